import { runCli } from './main.js';

// The only place that sets the process's exit status.
process.exitCode = await runCli(process.argv.slice(2));
