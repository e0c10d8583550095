/** The message of a caught value, whatever was thrown (an Error, a string, anything else). */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
