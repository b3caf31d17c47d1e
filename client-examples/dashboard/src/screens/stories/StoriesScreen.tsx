import { useState } from "react";
import { STORIES } from "../../api/documents";
import { GENRES } from "../../api/enums";
import type { Genre, StoriesQuery } from "../../api/generated/graphql";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { formatDateTime, formatQuality, genreLabel, shortId } from "../../format";
import { useConnection } from "../../hooks";
import { href } from "../../route";

type Story = StoriesQuery["stories"]["edges"][number]["node"];

function Reader({ story }: { story: Story }) {
  return (
    <article className="reader" data-testid="story-reader">
      <h2>{story.title}</h2>
      <p className="muted">
        {genreLabel(story.genre)} · quality {formatQuality(story.quality)} · by {story.model} ·{" "}
        {formatDateTime(story.createdAt)}
        {story.sessionId && (
          <>
            {" · "}
            <a href={href("history", { session: story.sessionId })}>session {shortId(story.sessionId)}</a>
          </>
        )}
      </p>
      <div className="story-text">
        {story.content.split(/\n{2,}/).map((paragraph, position) => (
          <p key={position}>{paragraph}</p>
        ))}
      </div>
    </article>
  );
}

export function StoriesScreen() {
  const [genre, setGenre] = useState<Genre | "">("");
  const [openId, setOpenId] = useState<string | null>(null);
  const stories = useConnection(STORIES, { first: 20, genre: genre || null }, (data) => data.stories);
  const open = stories.nodes.find((story) => story.id === openId) ?? stories.nodes[0];

  return (
    <section className="card">
      <div className="section-head">
        <h2>Saved stories</h2>
        <label className="inline-field">
          Genre
          <select
            value={genre}
            onChange={(event) => setGenre(event.target.value as Genre | "")}
            data-testid="stories-genre"
          >
            <option value="">All genres</option>
            {GENRES.map((value) => (
              <option key={value} value={value}>
                {genreLabel(value)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {stories.error && stories.nodes.length === 0 ? (
        <ErrorNotice error={stories.error} onRetry={stories.reload} />
      ) : stories.loading && stories.nodes.length === 0 ? (
        <Loading label="Loading your stories…" />
      ) : !open ? (
        <Empty>No saved stories yet. Train with Save to Database on to keep the best ones.</Empty>
      ) : (
        <div className="library">
          <div className="story-list-pane">
            <p className="muted" data-testid="stories-count">
              {stories.totalCount} saved {stories.totalCount === 1 ? "story" : "stories"}
            </p>
            <ul className="story-list" data-testid="story-list">
              {stories.nodes.map((story) => (
                <li key={story.id}>
                  <button
                    type="button"
                    className={story.id === open.id ? "story-item active" : "story-item"}
                    aria-current={story.id === open.id}
                    onClick={() => setOpenId(story.id)}
                    data-testid="story-item"
                  >
                    <strong>{story.title}</strong>
                    <span>
                      {genreLabel(story.genre)} · {formatQuality(story.quality)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
            {stories.error && <ErrorNotice error={stories.error} onRetry={stories.loadMore} />}
            {stories.hasNextPage && (
              <button
                type="button"
                className="button small"
                onClick={stories.loadMore}
                disabled={stories.loadingMore}
              >
                {stories.loadingMore ? "Loading…" : "Load more"}
              </button>
            )}
          </div>
          <Reader story={open} />
        </div>
      )}
    </section>
  );
}
