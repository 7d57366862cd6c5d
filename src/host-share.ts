// The host share: a read-only disk the boot script makes from the host's GGUF models and
// secrets file (qemu/host-share.ts), which init finds by its label and mounts (init/machine-boot.ts),
// and where the tiers look for models/ and secrets.toml (models/tiers.ts).
export const HOST_SHARE_LABEL = 'aios-host';
export const HOST_SHARE_DIR = '/run/aios/host';
