/**
 * The wire-level EventStoreDB test double — what it proves and what it does
 * not: see `./esdb-double/index.ts`. Split by gRPC service under
 * `./esdb-double/`; this file keeps the old import path working.
 */
export * from './esdb-double/index';
