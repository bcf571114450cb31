// The pure half of remote builds: parsing `--host`, quoting for the remote POSIX shell, and the
// command line a remote build runs.

export type RemoteHostSpec = { readonly username: string; readonly host: string; readonly port: number };

/**
 * Parses `[user@]host[:port]` (`[v6addr]:port` for IPv6). The user defaults to `defaultUser`; the port
 * to 22. Returns an error message naming what is wrong instead of throwing.
 */
export function parseHostArg(arg: string, defaultUser: string): RemoteHostSpec | { readonly error: string } {
  const at = arg.lastIndexOf('@');
  const username = at >= 0 ? arg.slice(0, at) : defaultUser;
  let rest = at >= 0 ? arg.slice(at + 1) : arg;
  let port = 22;
  let host: string;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0 && rest.indexOf(':') === colon) {
      port = Number(rest.slice(colon + 1));
      rest = rest.slice(0, colon);
    }
    host = rest;
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(username)) return { error: `--host ${arg}: "${username}" is not a user name; give user@host[:port]` };
  if (!/^[A-Za-z0-9.:-]+$/.test(host) || host.startsWith('-')) return { error: `--host ${arg}: "${host}" is not a host name or address; give user@host[:port]` };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { error: `--host ${arg}: the port must be 1-65535` };
  return { username, host, port };
}

/** Quotes one word for a POSIX shell: single quotes, with embedded single quotes as '\''. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The marker line a remote build prints first, carrying the PID an interrupt is sent to. */
export const REMOTE_PID_MARKER = 'imagebuild-remote-pid';

/**
 * The remote shell command of a build: prints its PID (the shell's, which `exec` hands to imagebuild,
 * so an interrupt reaches imagebuild itself), then runs `<imagebuild> build …` in the build directory.
 */
export function remoteBuildCommand(input: { dir: string; imagebuild: string; args: readonly string[]; env?: Readonly<Record<string, string>> }): string {
  const env = Object.entries(input.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
  // The imagebuild command is the user's own words (e.g. `npx imagebuild`), so it is not quoted as one word.
  return [
    `echo "${REMOTE_PID_MARKER} $$"`,
    `cd ${shellQuote(input.dir)}`,
    `exec ${env.length > 0 ? `env ${env.join(' ')} ` : ''}${input.imagebuild} build ${input.args.map(shellQuote).join(' ')}`,
  ].join(' && ');
}
