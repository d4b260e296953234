/**
 * Every workload kind's public names in one import, for the modules that want them all
 * (the CLI, the report). Each kind is declared in a file of its own (udp_echo.ts ...),
 * and listed once in kinds.ts.
 *
 * @module
 */

export * from "./kinds.ts";
export * from "./udp_echo.ts";
export * from "./udp_probe.ts";
export * from "./tcp_echo.ts";
export * from "./tcp_probe.ts";
export * from "./reconnect_storm.ts";
export * from "./bind_churn.ts";
export * from "./exec.ts";
