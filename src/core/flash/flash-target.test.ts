import { describe, expect, it } from 'vitest';
import { assembleFlashReport, FlashReport, flashReportFileName } from './flash-report.js';
import { confirmationToken, confirmsTarget, describeTarget, FlashTargetRefusedError, judgeFlashTarget, type TargetFacts } from './flash-target.js';

const GiB = 1024 ** 3;
const INTENT = { virtualSizeBytes: 20 * GiB, imageFileId: '2049:77', toFile: false };

/** A 2 TB NVMe disk with two partitions, nothing mounted or stacked on it: the safe case each test spoils one way. */
function disk(overrides: Partial<Extract<TargetFacts, { kind: 'block' }>> = {}): TargetFacts {
  return {
    kind: 'block',
    path: '/dev/nvme1n1',
    device: { name: 'nvme1n1', dev: '259:4' },
    sizeBytes: 2_000_398_934_016,
    readOnly: false,
    model: 'Samsung SSD 990 PRO 2TB',
    vendor: null,
    serial: 'S6Z2NJ0W123456',
    partitions: [
      { name: 'nvme1n1p1', dev: '259:5' },
      { name: 'nvme1n1p2', dev: '259:6' },
    ],
    holders: [],
    mounts: [],
    swaps: [],
    ...overrides,
  };
}

const checksOf = (facts: TargetFacts, intent = INTENT) => judgeFlashTarget(facts, intent).map((r) => r.check);

describe('judgeFlashTarget', () => {
  it('lets an idle whole disk at least the virtual size be written', () => {
    expect(judgeFlashTarget(disk(), INTENT)).toEqual([]);
    expect(judgeFlashTarget(disk({ sizeBytes: 20 * GiB }), INTENT)).toEqual([]);
  });

  it('refuses a disk with a mounted partition, naming the partition and where it is mounted', () => {
    const [refusal] = judgeFlashTarget(disk({ mounts: [{ on: 'nvme1n1p2', mountPoint: '/mnt/data', fsType: 'ext4' }] }), INTENT);

    expect(refusal).toEqual({ check: 'mounted', message: 'is mounted: nvme1n1p2 on /mnt/data (ext4); unmount it first' });
  });

  it('refuses the disk the running root is on, apart from any other mount', () => {
    const facts = disk({ mounts: [{ on: 'dm-0', mountPoint: '/', fsType: 'ext4' }, { on: 'nvme1n1p1', mountPoint: '/boot/efi', fsType: 'vfat' }], holders: [{ of: 'nvme1n1p2', holder: 'dm-0' }] });

    expect(checksOf(facts)).toEqual(['running-root', 'mounted', 'holders']);
    expect(judgeFlashTarget(facts, INTENT)[0]!.message).toContain("the running system's root filesystem (/ on dm-0)");
  });

  it('refuses holders (LVM, md), each named with what it is', () => {
    const [refusal] = judgeFlashTarget(disk({ holders: [{ of: 'nvme1n1p2', holder: 'dm-0' }, { of: 'nvme1n1p1', holder: 'md127' }] }), INTENT);

    expect(refusal!.check).toBe('holders');
    expect(refusal!.message).toBe('is in use by dm-0 on nvme1n1p2 (device-mapper: LVM, dm-crypt or multipath), md127 on nvme1n1p1 (md RAID); stop them first (vgchange -an, mdadm --stop, dmsetup remove)');
  });

  it('refuses swap, read-only, a partition, an unknown size and a disk smaller than the image', () => {
    expect(checksOf(disk({ swaps: [{ on: 'nvme1n1p2', path: '/dev/nvme1n1p2' }] }))).toEqual(['swap']);
    expect(checksOf(disk({ readOnly: true }))).toEqual(['read-only']);
    expect(checksOf(disk({ device: { name: 'nvme1n1p1', dev: '259:5' }, partitionOf: 'nvme1n1', partitions: [] }))).toEqual(['partition']);
    expect(checksOf(disk({ sizeBytes: null }))).toEqual(['size-unknown']);
    expect(judgeFlashTarget(disk({ sizeBytes: 20 * GiB - 512 }), INTENT)).toEqual([
      { check: 'too-small', message: `is 20.0 GiB (${20 * GiB - 512} bytes), smaller than the image's 20.0 GiB (${20 * GiB} bytes)` },
    ]);
  });

  it('writes a plain file only with --to-file, and never the image itself or a file a loop device reads', () => {
    const file: TargetFacts = { kind: 'file', path: '/srv/disk.raw', sizeBytes: 0, fileId: '2049:12', loopDevices: [] };

    expect(checksOf(file)).toEqual(['plain-file']);
    expect(checksOf(file, { ...INTENT, toFile: true })).toEqual([]);
    expect(checksOf({ ...file, fileId: INTENT.imageFileId }, { ...INTENT, toFile: true })).toEqual(['is-the-image']);
    expect(checksOf({ ...file, loopDevices: ['loop3'] }, { ...INTENT, toFile: true })).toEqual(['loop-backing']);
  });

  it('creates a missing file only with --to-file; refuses a directory, a character device, and a disk given with --to-file', () => {
    expect(checksOf({ kind: 'missing', path: '/dev/sdz' })).toEqual(['missing']);
    expect(checksOf({ kind: 'missing', path: '/srv/new.raw' }, { ...INTENT, toFile: true })).toEqual([]);
    expect(checksOf({ kind: 'other', path: '/dev/null', what: 'a character device' }, { ...INTENT, toFile: true })).toEqual(['not-a-disk']);
    expect(checksOf(disk(), { ...INTENT, toFile: true })).toEqual(['not-a-file']);
  });

  it('collects every reason into one line of the error', () => {
    const refusals = judgeFlashTarget(disk({ readOnly: true, sizeBytes: GiB }), INTENT);

    const error = new FlashTargetRefusedError('/dev/nvme1n1', refusals);

    expect(error.message).toMatch(/^flash: \/dev\/nvme1n1 is read-only .*; it is 1\.0 GiB .*; nothing was written$/);
    expect(error.message).not.toContain('\n');
  });
});

describe('confirmation', () => {
  it('asks for the serial, else the device or file name', () => {
    expect(confirmationToken(disk())).toBe('S6Z2NJ0W123456');
    expect(confirmationToken(disk({ serial: null, device: { name: 'loop7', dev: '7:7' } }))).toBe('loop7');
    expect(confirmationToken({ kind: 'file', path: '/srv/disk.raw', sizeBytes: 0, fileId: '1:1', loopDevices: [] })).toBe('disk.raw');
  });

  it('accepts the token with blanks around it and nothing else', () => {
    expect(confirmsTarget(' S6Z2NJ0W123456\n', 'S6Z2NJ0W123456')).toBe(true);
    expect(confirmsTarget('S6Z2NJ0W12345', 'S6Z2NJ0W123456')).toBe(false);
    expect(confirmsTarget('yes', 'S6Z2NJ0W123456')).toBe(false);
  });

  it('describes a disk with model, serial and size', () => {
    expect(describeTarget(disk())).toBe('/dev/nvme1n1 (nvme1n1)  Samsung SSD 990 PRO 2TB  serial S6Z2NJ0W123456  1.8 TiB (2000398934016 bytes)');
  });
});

describe('flash report', () => {
  const measured = {
    started_at: '2026-12-05T14:00:00.000Z',
    finished_at: '2026-12-05T14:03:00.000Z',
    duration_s: 180,
    source: { image: '/r/box-v1.0.0.qcow2', manifest: '/r/image-manifest.json', name: 'box', version: '1.0.0', sha256: 'a'.repeat(64), virtual_size_bytes: 64 * 1024 * 1024 },
    signature: { status: 'unsigned-allowed' as const, signed: false, reason: 'lab' },
    device: { path: '/dev/loop0', kind: 'block' as const, name: 'loop0', model: null, vendor: null, serial: null, size_bytes: 128 * 1024 * 1024 },
    write: { bytes_written: 4 * 1024 * 1024, bytes_zeroed: 60 * 1024 * 1024, target_was_zero: false, duration_s: 2 },
    compare: { result: 'identical' as const, range_bytes: 64 * 1024 * 1024, mismatch_offset: null, duration_s: 1 },
    checks: [{ check: 'readback_compare' as const, status: 'pass' as const, measured: 'identical', expected: 'identical over the first 67108864 bytes' }],
  };

  it('passes when every check passed, and fails naming the check that did not', () => {
    const passed = assembleFlashReport(measured);
    const failed = assembleFlashReport({ ...measured, checks: [{ ...measured.checks[0]!, status: 'fail', measured: 'Content mismatch at offset 1048576!' }] });

    expect([passed.status, passed.summary]).toEqual(['passed', 'flash passed: box v1.0.0 onto /dev/loop0; read back identical over 67108864 bytes']);
    expect(failed.status).toBe('failed');
    expect(failed.summary).toContain('readback_compare measured "Content mismatch at offset 1048576!"');
    expect(FlashReport.parse(JSON.parse(JSON.stringify(passed)))).toEqual(passed);
  });

  it('names the report after the serial and the UTC time, with nothing a file name cannot hold', () => {
    expect(flashReportFileName('S6Z2/NJ 0W', new Date('2026-12-05T14:03:07.123Z'))).toBe('flash-S6Z2_NJ_0W-20261205T140307Z.json');
  });
});
