/**
 * Every GraphQL document the dashboard sends. `npm run codegen` checks each against
 * schema/schema.graphql and types its result and variables (in `./generated/`), so a field the
 * schema does not have fails the build, not the browser.
 */
import { graphql } from "./generated";

graphql(`
  fragment SessionSummary on TrainingSession {
    sessionId
    status
    numExamplesRequested
    numExamplesSuccessful
    numExamplesFailed
    averageQuality
    minQuality
    maxQuality
    bestPerformingModel
    totalTimeSeconds
    startedAt
    completedAt
    promptTokens
    completionTokens
    costUsd
    maxCostUsd
    endReason
  }
`);

graphql(`
  fragment SessionRecord on TrainingSession {
    ...SessionSummary
    genresSelected
    storedInMemory
    savedToDatabase
    storiesSavedCount
    votingStrategy
    teachers
    trainingExamplesBefore
    trainingExamplesAfter
    fineTuningTriggered
    modelPerformance {
      model
      wins
      averageQuality
      totalQuality
      promptTokens
      completionTokens
      costUsd
    }
    genreDistribution {
      genre
      count
    }
  }
`);

graphql(`
  fragment Stats on TrainingStats {
    totalSessions
    totalExamplesGenerated
    totalStoriesSaved
    averageQuality
    totalTrainingTimeSeconds
    fineTuningSessionsCount
    fineTuningExamples
    untilNextFineTuning
    fineTuningThreshold
    promptTokens
    completionTokens
    costUsd
    sessionsWithKnownCost
  }
`);

export const VIEWER = graphql(`
  query Viewer {
    viewer {
      userId
      name
    }
  }
`);

export const TRAIN_OPTIONS = graphql(`
  query TrainOptions {
    teachers {
      name
      provider
      model
      available
      offline
      maxConcurrency
      averageLatencyMs
      inputPricePerMtok
      outputPricePerMtok
      requestsPerMinute
      tokensPerMinute
    }
  }
`);

export const ESTIMATE = graphql(`
  query Estimate($numExamples: Int!, $teachers: [String!], $voting: VotingStrategy) {
    trainingEstimate(numExamples: $numExamples, teachers: $teachers, voting: $voting) {
      seconds
      promptTokens
      completionTokens
      costUsd
    }
  }
`);

export const START_TRAINING = graphql(`
  mutation StartTraining($input: StartTrainingInput!) {
    startTraining(input: $input) {
      sessionId
      status
    }
  }
`);

export const CANCEL_TRAINING = graphql(`
  mutation CancelTraining($sessionId: String!) {
    cancelTraining(sessionId: $sessionId) {
      sessionId
      status
    }
  }
`);

export const RESUME_TRAINING = graphql(`
  mutation ResumeTraining($sessionId: String!) {
    resumeTraining(sessionId: $sessionId) {
      sessionId
      status
    }
  }
`);

export const TRAINING_PROGRESS_BATCHES = graphql(`
  subscription TrainingProgressBatches($sessionId: String!, $afterSeq: Int, $maxDelayMs: Int!) {
    trainingProgressBatches(sessionId: $sessionId, afterSeq: $afterSeq, maxDelayMs: $maxDelayMs) {
      firstSeq
      lastSeq
      events {
        __typename
        seq
        sessionId
        at
        ... on SessionStarted {
          numExamples
          teachers
          votingStrategy
        }
        ... on ExampleStarted {
          index
          genre
          prompt
          style
        }
        ... on TeacherResponded {
          index
          model
          ok
          latencyMs
          textQuality
          error
        }
        ... on VoteCast {
          index
          voter
          candidate
        }
        ... on ExampleScored {
          index
          winner
          winnerTextQuality: textQuality
          confidence
          finalQuality
          savedToDatabase
          storedInMemory
        }
        ... on ExampleFailed {
          index
          reason: error
        }
        ... on SessionProgress {
          completed
          failed
          total
          etaSeconds
          promptTokens
          completionTokens
          costUsd
        }
        ... on FineTuningTriggered {
          examplesCollected
          job {
            id
            status
            numExamples
          }
        }
        ... on SessionFinished {
          status
          endReason
          session {
            ...SessionRecord
          }
        }
      }
    }
  }
`);

export const EXAMPLE_TEXTS = graphql(`
  query ExampleTexts($sessionId: String!, $after: String) {
    trainingSession(sessionId: $sessionId) {
      examples(first: 100, after: $after) {
        edges {
          cursor
          node {
            index
            text
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const STATS = graphql(`
  query Stats {
    trainingStats {
      ...Stats
    }
  }
`);

export const HISTORY = graphql(`
  query History($first: Int!, $after: String, $filter: TrainingHistoryFilter, $orderBy: HistoryOrder) {
    trainingHistory(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          ...SessionSummary
        }
      }
    }
  }
`);

export const HISTORY_EXPORT = graphql(`
  query HistoryExport($after: String, $filter: TrainingHistoryFilter, $orderBy: HistoryOrder) {
    trainingHistory(first: 100, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          ...SessionRecord
        }
      }
    }
  }
`);

export const SESSION = graphql(`
  query Session($sessionId: String!) {
    trainingSession(sessionId: $sessionId) {
      ...SessionRecord
    }
  }
`);

export const COMPARE = graphql(`
  query Compare($a: String!, $b: String!) {
    a: trainingSession(sessionId: $a) {
      ...SessionRecord
    }
    b: trainingSession(sessionId: $b) {
      ...SessionRecord
    }
  }
`);

export const SESSION_EXAMPLES = graphql(`
  query SessionExamples($sessionId: String!, $first: Int!, $after: String) {
    trainingSession(sessionId: $sessionId) {
      examples(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            index
            genre
            prompt
            style
            status
            winner
            text
            textQuality
            confidence
            finalQuality
            error
            votes {
              voter
              candidate
            }
            outputs {
              model
              text
              latencyMs
              textQuality
              error
              costUsd
            }
          }
        }
      }
    }
  }
`);

export const TRENDS = graphql(`
  query Trends($days: Int!) {
    qualityTrend(days: $days) {
      day
      sessions
      averageQuality
      promptTokens
      completionTokens
      costUsd
    }
    modelLeaderboard {
      model
      wins
      averageQuality
      sessions
    }
  }
`);

export const STORIES = graphql(`
  query Stories($first: Int!, $after: String, $genre: Genre) {
    stories(first: $first, after: $after, genre: $genre) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          title
          genre
          content
          quality
          model
          sessionId
          createdAt
        }
      }
    }
  }
`);

export const FINE_TUNING = graphql(`
  query FineTuning {
    trainingStats {
      ...Stats
    }
    fineTuneJobs {
      id
      status
      backend
      numExamples
      triggeredBySessionId
      datasetUrl
      preferenceDatasetUrl
      fineTunedModel
      error
      createdAt
      finishedAt
    }
  }
`);
