import { execa } from 'execa';

/** The commit checked out in `dir` (`git rev-parse HEAD`), or null outside a git checkout or without git. */
export async function readGitCommit(dir: string): Promise<string | null> {
  const result = await execa('git', ['rev-parse', 'HEAD'], { cwd: dir, reject: false, stdin: 'ignore' });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}
