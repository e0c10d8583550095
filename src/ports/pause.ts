/**
 * A place where a command can be held by a test: the handler calls it with
 * `<command>:before-append:<first event type>` before each append
 * (src/infra/pause.ts wires it to KEYLEDGER_PAUSE_AT / KEYLEDGER_PAUSE_FILE).
 */
export type Pause = (point: string) => Promise<void>;
