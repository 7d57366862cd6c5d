#!/usr/bin/env bash
# The archiso profile of aiOS: an ArchLinux x86_64 ISO whose PID 1 is aios-init.
# mkarchiso sources this file. `npm run build -- iso` stages a copy in out/archiso/profile and
# writes there the version (package.json's) and the modes of the files it stages (the
# file_permissions block below): mkarchiso copies airootfs/ without modes.
# shellcheck disable=SC2034

iso_name="aios"
iso_label="AIOS_$(date --date="@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y%m)"
iso_publisher="aiOS <https://github.com/aios>"
iso_application="aiOS live/installable image"
iso_version="development"
install_dir="aios"
buildmodes=('iso')
bootmodes=('bios.syslinux' 'uefi.systemd-boot')
arch="x86_64"
pacman_conf="pacman.conf"
# zstd rather than releng's xz: a little bigger, and much faster to read at boot and on first use.
airootfs_image_type="squashfs"
airootfs_image_tool_options=('-comp' 'zstd' '-Xcompression-level' '15' '-b' '1M')
bootstrap_tarball_compression=('zstd' '-c' '-T0' '--long' '-19')
file_permissions=(
  # The staged files' modes follow (build.ts iso).
)
