// The disks that init and the boot scripts (qemu/) agree on, by label:
// - the state disk, which init formats with this label when the command line names a blank
//   disk, and which the archiso boot entries name (aios.state=LABEL=aios-state);
// - the host share: a read-only disk the boot script makes from the host's GGUF models and
//   secrets file (qemu/host-share.ts), which init finds by its label and mounts
//   (init/machine-boot.ts), and where the tiers look for models/ and secrets.toml (models/tiers.ts).
export const STATE_DISK_LABEL = 'aios-state';
export const HOST_SHARE_LABEL = 'aios-host';
export const HOST_SHARE_DIR = '/run/aios/host';
