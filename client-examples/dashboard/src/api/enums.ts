/** The schema's enums as lists, in the schema's order, for the pickers and filters that offer them. */
import { Genre, SessionStatus, VotingStrategy } from "./generated/graphql";

export const GENRES: readonly Genre[] = Object.values(Genre);

export const SESSION_STATUSES: readonly SessionStatus[] = Object.values(SessionStatus);

export const VOTING_STRATEGIES: readonly VotingStrategy[] = Object.values(VotingStrategy);
