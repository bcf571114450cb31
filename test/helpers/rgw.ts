// A real S3 server for the RADOS Gateway tier: Ceph's radosgw (Debian 12: 16.2) with one monitor and
// one memstore OSD, all on 127.0.0.1 with free ports, in a temporary directory of its own, no cephx
// between the daemons (radosgw itself checks SigV4 signatures). Started and stopped by pid; the
// recipe is ../shared/reference/toolchain/rgw/ (README.md): about 20 s to start, ~270 MiB of memory.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { freePort } from './free-port.js';
import { sleep } from './wait.js';

const run = promisify(execFile);

/** The programs the tier needs (Debian: ceph-mon ceph-osd radosgw ceph-common). */
export const RGW_TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool'] as const;

export type TestRgw = {
  readonly endpoint: string;
  readonly dir: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** This run's credentials alone, for a CLI or SDK whose store spec names the endpoint. */
  readonly credentialsEnv: Record<string, string>;
  /** A spec's S3 store on this gateway, under `prefix`. */
  storeSpec(prefix: string): StoreSpec;
  /** The daemons' pids (monitor, OSD, gateway), for tests that check they are gone. */
  readonly pids: readonly number[];
  /** Stops every daemon by pid (TERM, then KILL after 10 s) and removes the directory. */
  stop(): Promise<void>;
};

/** Starts mon + memstore OSD + radosgw, a user with fresh random keys, and `bucket`. Everything started is stopped again if a step fails. */
export async function startRgw(bucket = 'images', options: { readonly memstoreBytes?: string } = {}): Promise<TestRgw> {
  // Each attempt has a new directory and new ports: freePort() hands out a port that was free a moment ago, and on a
  // machine as busy as CI (a TCG build beside the suite, its own Ceph cluster, hundreds of connections) a daemon has
  // once found its port taken by the time it bound it, failing the start in seconds.
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRgwOnce(bucket, options);
    } catch (error) {
      failures.push((error as Error).message);
      if (attempt === RGW_START_ATTEMPTS) throw new Error(`${failures.at(-1)} (${attempt} tries; earlier: ${failures.slice(0, -1).join(' | ')})`, { cause: error });
      console.warn(`startRgw: try ${attempt} failed, starting a fresh cluster: ${failures.at(-1)}`);
    }
  }
}

const RGW_START_ATTEMPTS = 3;

async function startRgwOnce(bucket: string, options: { readonly memstoreBytes?: string }): Promise<TestRgw> {
  const dir = await mkdtemp(join(tmpdir(), 'imagebuild-rgw-'));
  const pids: number[] = [];
  const stop = async () => {
    for (const pid of [...pids].reverse()) await stopPid(pid);
    pids.length = 0;
    if (!process.env.IMAGEBUILD_KEEP_RGW) await rm(dir, { recursive: true, force: true });
  };
  try {
    const [monPort, rgwPort] = await Promise.all([freePort(), freePort()]);
    const conf = join(dir, 'ceph.conf');
    const fsid = randomUUID();
    await Promise.all(['run', 'log', 'mon', 'osd', 'rgw'].map((d) => mkdir(join(dir, d))));
    await writeFile(conf, cephConf(dir, fsid, monPort, rgwPort, options.memstoreBytes ?? '1G'));
    const ceph = (...args: string[]) => run('ceph', ['-c', conf, '--connect-timeout', '30', ...args], { timeout: 60_000 }).then((r) => r.stdout.trim());

    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `v1:127.0.0.1:${monPort}`, join(dir, 'monmap')], { timeout: 30_000 });
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], { timeout: 60_000 });
    await run('ceph-mon', ['-c', conf, '-i', 'a'], { timeout: 60_000 }); // daemonizes
    pids.push(await pidFrom(join(dir, 'run/mon.a.pid')));
    // A monitor that has just daemonized can refuse the first command ("EPERM: problem getting command descriptions
    // from mon", seen with a TCG build and a second test worker loading the machine): ask until it answers.
    await until(() => ceph('-s').then(() => true, () => false), 120_000, 'the monitor answering');

    const osdUuid = randomUUID();
    const id = await ceph('osd', 'new', osdUuid);
    await mkdir(join(dir, 'osd', `ceph-${id}`));
    await run('ceph-osd', ['-c', conf, '-i', id, '--mkfs', '--osd-uuid', osdUuid], { timeout: 60_000 });
    // The OSD's first boot sometimes races the monitor and exits 250 ("mon_cmd_maybe_osd_create fail:
    // 'wrong fsid'" in its log; one start in three to five with 16.2.15): starting it again has always worked.
    for (let attempt = 1; ; attempt++) {
      const started = await run('ceph-osd', ['-c', conf, '-i', id], { timeout: 60_000 }).then(
        () => true,
        () => false,
      );
      if (started) break;
      if (attempt === 6) throw new Error(`ceph-osd would not start after ${attempt} tries; see ${dir}/log (IMAGEBUILD_KEEP_RGW=1 keeps it)`);
      await sleep(2000);
    }
    pids.push(await pidFrom(join(dir, `run/osd.${id}.pid`)));
    await until(async () => new RegExp(`^osd\\.${id} up`, 'm').test(await ceph('osd', 'dump')), 60_000, `osd.${id} up`);

    await run('radosgw', ['-c', conf, '-n', 'client.rgw.a'], { timeout: 60_000 });
    pids.push(await pidFrom(join(dir, 'run/client.rgw.a.pid')));
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until(() => fetch(endpoint).then(() => true, () => false), 120_000, `radosgw answering on ${endpoint}`);

    const accessKeyId = `RGW${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = `rgw-secret-${randomBytes(16).toString('hex')}`;
    await run('radosgw-admin', ['-c', conf, 'user', 'create', '--uid=imagebuild', '--display-name=imagebuild', `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`], { timeout: 60_000 });
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }

    const credentialsEnv = { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    return {
      endpoint,
      dir,
      bucket,
      accessKeyId,
      secretAccessKey,
      credentialsEnv,
      storeSpec: (prefix) => ({ kind: 's3', bucket, prefix, region: 'us-east-1', endpoint, force_path_style: true }),
      pids: [...pids],
      stop,
    };
  } catch (error) {
    const keep = process.env.IMAGEBUILD_KEEP_RGW ? `; logs kept in ${dir}/log` : '; IMAGEBUILD_KEEP_RGW=1 keeps its logs';
    await stop();
    throw new Error(`the RADOS Gateway did not start: ${(error as Error).message.split('\n')[0]}${keep}`, { cause: error });
  }
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: string): string {
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
keyring = ${dir}/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 2
mon data avail crit = 1

[osd]
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
`;
}

/** The pid a daemon wrote (it writes the file just after it forks). */
async function pidFrom(file: string): Promise<number> {
  let text = '';
  await until(async () => (text = (await readFile(file, 'utf8').catch(() => '')).trim()) !== '', 10_000, `${file} written`);
  return Number(text);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 10_000 && alive(pid); waited += 200) await sleep(200);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
