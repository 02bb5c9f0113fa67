/** What a subcommand may touch, so tests can run it in-process with their own environment. */
export interface CommandIO {
  env: NodeJS.ProcessEnv;
  stdout(line: string): void;
  stderr(line: string): void;
}

/** Bad usage: printed with the usage text, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const processIO: CommandIO = {
  env: process.env,
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};
