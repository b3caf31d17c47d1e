import { useWatchedSession, watchSession } from "../../storage";
import { LiveSession } from "./LiveSession";
import { TrainForm } from "./TrainForm";

export function TrainScreen() {
  const watching = useWatchedSession();
  if (watching)
    return <LiveSession key={watching} sessionId={watching} onNewSession={() => watchSession(null)} />;
  return <TrainForm onStarted={watchSession} />;
}
