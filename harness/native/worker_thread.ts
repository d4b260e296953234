// What the FFI worker threads share about being a worker: a message to the agent that
// started them, and running the one start message, with whatever it throws reported to
// the agent as a failure.

/** Posts a message to the agent that started this worker. */
export function postToAgent(message: unknown, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(message, transfer);
}

/**
 * Runs `run` with the message this worker is started with; an error it throws is posted
 * as `{ type: "failed", name, message }`. The worker ends once `run` returns.
 */
export function runOnStart<T>(run: (start: T) => void): void {
  (self as unknown as Worker).onmessage = (event: MessageEvent<T>) => {
    try {
      run(event.data);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      postToAgent({ type: "failed", name: e.name, message: e.message });
    }
    self.close();
  };
}
