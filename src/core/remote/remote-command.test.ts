import { describe, expect, it } from 'vitest';
import { parseHostArg, remoteBuildCommand, shellQuote } from './remote-command.js';

describe('parseHostArg', () => {
  it('reads user, host and port, with defaults', () => {
    expect(parseHostArg('builder@gpu1:2222', 'me')).toEqual({ username: 'builder', host: 'gpu1', port: 2222 });
    expect(parseHostArg('gpu1.lab', 'me')).toEqual({ username: 'me', host: 'gpu1.lab', port: 22 });
    expect(parseHostArg('root@[fd00::5]:22', 'me')).toEqual({ username: 'root', host: 'fd00::5', port: 22 });
  });

  it('says what is wrong with a bad value', () => {
    expect(parseHostArg('gpu1:0', 'me')).toEqual({ error: '--host gpu1:0: the port must be 1-65535' });
    expect(parseHostArg('a b@gpu1', 'me')).toEqual({ error: '--host a b@gpu1: "a b" is not a user name; give user@host[:port]' });
    expect(parseHostArg('-oProxyCommand=x', 'me')).toEqual({ error: '--host -oProxyCommand=x: "-oProxyCommand=x" is not a host name or address; give user@host[:port]' });
  });
});

describe('remote command', () => {
  it('quotes words the shell would split or expand', () => {
    expect(shellQuote('v1.0.0')).toBe('v1.0.0');
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
  });

  it('prints its PID, changes to the build directory and execs imagebuild with quoted arguments', () => {
    expect(remoteBuildCommand({ dir: 'imagebuild-remote/box', imagebuild: 'npx imagebuild', args: ['1.0.0', '--allow-bump-mismatch', 'hot fix; rm -rf /'] })).toBe(
      `echo "imagebuild-remote-pid $$" && cd imagebuild-remote/box && exec npx imagebuild build 1.0.0 --allow-bump-mismatch 'hot fix; rm -rf /'`,
    );
  });
});
