import { ImagebuildError } from '../../errors/index.js';
import { formatBytes } from '../release/transfer-rate.js';

// Whether `imagebuild flash` may write to a target: decided here from facts an adapter gathered
// (src/adapters/block-device/), so every refusal is a pure function of what was found.

/** A block device as the kernel names it: `sda`, `nvme0n1p2`, `dm-0`, and its `major:minor`. */
export type BlockName = { readonly name: string; readonly dev: string };

/** A mounted filesystem on the target (the disk, one of its partitions, or a device stacked on them). */
export type TargetMount = { readonly on: string; readonly mountPoint: string; readonly fsType: string };

/** Everything about a target path that decides whether flash may write to it. */
export type TargetFacts =
  | { readonly kind: 'missing'; readonly path: string }
  | { readonly kind: 'other'; readonly path: string; readonly what: string }
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly sizeBytes: number;
      /** dev:ino, to tell the target from the image itself. */
      readonly fileId: string;
      /** Loop devices this file backs (`/sys/block/loopN/loop/backing_file`). */
      readonly loopDevices: readonly string[];
    }
  | {
      readonly kind: 'block';
      readonly path: string;
      readonly device: BlockName;
      /** The whole disk this is a partition of; undefined for a whole disk. */
      readonly partitionOf?: string;
      /** null when the kernel did not say (no /sys/class/block/X/size). */
      readonly sizeBytes: number | null;
      readonly readOnly: boolean;
      readonly model: string | null;
      readonly vendor: string | null;
      readonly serial: string | null;
      readonly partitions: readonly BlockName[];
      /** Devices stacked on the disk or its partitions (device-mapper, md, bcache), transitively: `{ of: 'sda2', holder: 'dm-0' }`. */
      readonly holders: readonly { readonly of: string; readonly holder: string }[];
      readonly mounts: readonly TargetMount[];
      /** Swap areas on the disk, its partitions or its holders. */
      readonly swaps: readonly { readonly on: string; readonly path: string }[];
    };

/** What flash is about to write, as far as the target checks need it. */
export type FlashIntent = {
  /** Bytes the image expands to (qemu-img's virtual size). */
  readonly virtualSizeBytes: number;
  /** dev:ino of the image file. */
  readonly imageFileId: string;
  /** --to-file: the target is (or becomes) a plain file holding the disk image. */
  readonly toFile: boolean;
};

export type RefusalCheck =
  | 'missing'
  | 'not-a-disk'
  | 'plain-file'
  | 'not-a-file'
  | 'partition'
  | 'read-only'
  | 'mounted'
  | 'running-root'
  | 'swap'
  | 'holders'
  | 'loop-backing'
  | 'is-the-image'
  | 'size-unknown'
  | 'too-small'
  | 'not-confirmed';

/** One reason not to write, in words a technician can act on. */
export type TargetRefusal = { readonly check: RefusalCheck; readonly message: string };

/** Every reason `facts` forbids writing the image there; empty when the target may be written. */
export function judgeFlashTarget(facts: TargetFacts, intent: FlashIntent): TargetRefusal[] {
  const refuse = (check: RefusalCheck, message: string): TargetRefusal => ({ check, message });
  switch (facts.kind) {
    case 'missing':
      return intent.toFile ? [] : [refuse('missing', 'does not exist; name the disk, e.g. /dev/sdX or /dev/disk/by-id/…')];
    case 'other':
      return [refuse('not-a-disk', `is ${facts.what}, not a disk`)];
    case 'file': {
      const refusals: TargetRefusal[] = [];
      if (!intent.toFile) refusals.push(refuse('plain-file', 'is a plain file, not a block device; to write the disk image into a file, add --to-file'));
      if (facts.fileId === intent.imageFileId) refusals.push(refuse('is-the-image', 'is the image being flashed'));
      if (facts.loopDevices.length > 0) refusals.push(refuse('loop-backing', `backs ${facts.loopDevices.map((d) => `/dev/${d}`).join(', ')} (losetup -a); detach it first`));
      return refusals;
    }
    case 'block':
      return judgeBlockDevice(facts, intent, refuse);
  }
}

function judgeBlockDevice(facts: Extract<TargetFacts, { kind: 'block' }>, intent: FlashIntent, refuse: (check: RefusalCheck, message: string) => TargetRefusal): TargetRefusal[] {
  const refusals: TargetRefusal[] = [];
  if (intent.toFile) refusals.push(refuse('not-a-file', `is a block device (${facts.device.name}), but --to-file was given; leave --to-file out to write a disk`));
  if (facts.partitionOf !== undefined) refusals.push(refuse('partition', `is partition ${facts.device.name} of /dev/${facts.partitionOf}; an image is a whole disk: name /dev/${facts.partitionOf}`));
  if (facts.readOnly) refusals.push(refuse('read-only', `is read-only (/sys/class/block/${facts.device.name}/ro is 1: a write-protect switch, a read-only loop device, or blockdev --setro)`));
  const root = facts.mounts.filter((m) => m.mountPoint === '/');
  if (root.length > 0) refusals.push(refuse('running-root', `holds the running system's root filesystem (/ on ${root.map((m) => m.on).join(', ')}); this is the disk this machine runs from`));
  const others = facts.mounts.filter((m) => m.mountPoint !== '/');
  if (others.length > 0) {
    const list = others.map((m) => `${m.on} on ${m.mountPoint} (${m.fsType})`).join(', ');
    refusals.push(refuse('mounted', `is mounted: ${list}; unmount ${others.length === 1 ? 'it' : 'them'} first`));
  }
  if (facts.swaps.length > 0) refusals.push(refuse('swap', `is in use as swap (${facts.swaps.map((s) => s.path).join(', ')}); swapoff first`));
  if (facts.holders.length > 0) {
    const list = facts.holders.map((h) => `${h.holder} on ${h.of} (${describeHolder(h.holder)})`).join(', ');
    refusals.push(refuse('holders', `is in use by ${list}; stop ${facts.holders.length === 1 ? 'it' : 'them'} first (vgchange -an, mdadm --stop, dmsetup remove)`));
  }
  if (facts.sizeBytes === null) refusals.push(refuse('size-unknown', `has no size the kernel reports (/sys/class/block/${facts.device.name}/size), so the image cannot be checked to fit`));
  else if (facts.sizeBytes < intent.virtualSizeBytes) {
    refusals.push(refuse('too-small', `is ${formatBytes(facts.sizeBytes)} (${facts.sizeBytes} bytes), smaller than the image's ${formatBytes(intent.virtualSizeBytes)} (${intent.virtualSizeBytes} bytes)`));
  }
  return refusals;
}

/** What kind of device a holder is, from the kernel's name for it. */
function describeHolder(name: string): string {
  if (name.startsWith('dm-')) return 'device-mapper: LVM, dm-crypt or multipath';
  if (name.startsWith('md')) return 'md RAID';
  if (name.startsWith('bcache')) return 'bcache';
  return 'a stacked device';
}

/** What a technician types back to confirm: the disk's serial, else (a loop device, a file) its name. */
export function confirmationToken(facts: TargetFacts): string {
  if (facts.kind === 'block') return facts.serial ?? facts.device.name;
  return facts.path.slice(facts.path.lastIndexOf('/') + 1);
}

/** Whether what was typed back confirms `token` (surrounding blanks ignored, nothing else). */
export function confirmsTarget(typed: string, token: string): boolean {
  return typed.trim() === token;
}

/** The target in one line for people: `/dev/sdb  Samsung SSD 990 PRO 2TB  serial S6Z…  1.8 TiB`. */
export function describeTarget(facts: TargetFacts): string {
  switch (facts.kind) {
    case 'block': {
      const model = [facts.vendor, facts.model].filter((v): v is string => v !== null && v !== '').join(' ') || 'no model reported';
      const size = facts.sizeBytes === null ? 'size unknown' : `${formatBytes(facts.sizeBytes)} (${facts.sizeBytes} bytes)`;
      return `${facts.path} (${facts.device.name})  ${model}  serial ${facts.serial ?? 'none reported'}  ${size}`;
    }
    case 'file':
      return `${facts.path}  a plain file of ${formatBytes(facts.sizeBytes)} (${facts.sizeBytes} bytes)`;
    case 'missing':
      return `${facts.path}  a new file`;
    case 'other':
      return `${facts.path}  ${facts.what}`;
  }
}

/** A target flash refuses to write: every reason, on one line. Nothing was written. */
export class FlashTargetRefusedError extends ImagebuildError {
  constructor(
    readonly target: string,
    readonly refusals: readonly TargetRefusal[],
  ) {
    super('FLASH_TARGET_REFUSED', `flash: ${target} ${refusals.map((r) => r.message).join('; it ')}; nothing was written`);
  }
}
