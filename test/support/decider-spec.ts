/**
 * Given / when / then for pure deciders, on ava's `t`
 * (after emmett's `deciderSpecification`):
 *
 *   spec(t, instanceDecider).given([configRead]).when(recordKeyPair).then([keyPairIssued]);
 *   spec(t, instanceDecider).given([]).when(recordKeyPair).thenFails({ _tag: 'NotConfigured', step: 'key pair issued' });
 *   spec(t, instanceDecider).given([configRead]).when(recordSameConfig).thenNothingHappened();
 *
 * The state is rebuilt from the given events with `evolve` only (as the command
 * handler does), and every outcome is compared as a whole Either, so a Right
 * where a Left was expected (or the other way round) fails with both shown.
 */
import type { ExecutionContext } from 'ava';
import * as E from 'fp-ts/Either';

export interface Decider<Command, Event, State, Error> {
  readonly decide: (command: Command, state: State) => E.Either<Error, ReadonlyArray<Event>>;
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: State;
}

export interface Then<Event, Error> {
  /** The command succeeds and decides exactly these events, in this order. */
  then(expected: ReadonlyArray<Event>): void;
  /** The command is refused with exactly this error. */
  thenFails(expected: Error): void;
  /** The command succeeds and decides nothing: an idempotent repeat. */
  thenNothingHappened(): void;
}

export interface When<Command, Event, Error> {
  when(command: Command): Then<Event, Error>;
}

export interface Given<Command, Event, Error> {
  given(events: ReadonlyArray<Event>): When<Command, Event, Error>;
}

export const spec = <Command, Event, State, Error>(t: ExecutionContext, decider: Decider<Command, Event, State, Error>): Given<Command, Event, Error> => ({
  given: (events) => ({
    when: (command) => {
      const run = (): E.Either<Error, ReadonlyArray<Event>> => decider.decide(command, events.reduce(decider.evolve, decider.initialState));
      return {
        // biome-ignore lint/suspicious/noThenProperty: the given/when/then vocabulary; this object is never awaited
        then: (expected) => {
          t.deepEqual(run(), E.right(expected), 'expected the command to decide exactly these events');
        },
        thenFails: (expected) => {
          t.deepEqual(run(), E.left(expected), 'expected the command to fail with exactly this error');
        },
        thenNothingHappened: () => {
          t.deepEqual(run(), E.right([]), 'expected the command to decide no events');
        },
      };
    },
  }),
});

/** The state after replaying the events: for evolve checks. */
export const stateAfter = <Command, Event, State, Error>(decider: Decider<Command, Event, State, Error>, events: ReadonlyArray<Event>): State =>
  events.reduce(decider.evolve, decider.initialState);
