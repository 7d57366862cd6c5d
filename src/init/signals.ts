// What each signal asks of PID 1. The kernel delivers to PID 1 only the signals it handles,
// so every one in this table gets a handler; everything else is ignored by the kernel.
//
// The table is busybox init's (SIGTERM, SIGUSR1, SIGUSR2, SIGINT after RB_DISABLE_CAD),
// systemd's (SIGRTMIN+3/+4/+5, SIGPWR) and SIGHUP to reload. In a container, SIGTERM is what
// `docker stop` and `podman stop` send, so there it powers off instead of rebooting; as a
// subreaper in a terminal, SIGINT is ctrl-C, so there it powers off too.
import { native } from '../native/index.ts';

export type PowerAction = 'poweroff' | 'reboot' | 'halt';
export type SignalAction = PowerAction | 'reload';

export interface SignalRule {
  name: string;
  number: number;
  machine: SignalAction;
  container: SignalAction;
  subreaper: SignalAction;
  why: string;
}

export function signalTable(sigrtmin = native().sigrtmin()): SignalRule[] {
  return [
    { name: 'SIGTERM', number: 15, machine: 'reboot', container: 'poweroff', subreaper: 'poweroff', why: 'busybox init; docker/podman stop' },
    { name: 'SIGINT', number: 2, machine: 'reboot', container: 'reboot', subreaper: 'poweroff', why: 'ctrl-alt-del (after RB_DISABLE_CAD)' },
    { name: 'SIGUSR1', number: 10, machine: 'halt', container: 'halt', subreaper: 'halt', why: 'busybox init' },
    { name: 'SIGUSR2', number: 12, machine: 'poweroff', container: 'poweroff', subreaper: 'poweroff', why: 'busybox init' },
    { name: 'SIGPWR', number: 30, machine: 'poweroff', container: 'poweroff', subreaper: 'poweroff', why: 'power failure (UPS daemons)' },
    { name: 'SIGRTMIN+3', number: sigrtmin + 3, machine: 'halt', container: 'halt', subreaper: 'halt', why: 'systemd' },
    { name: 'SIGRTMIN+4', number: sigrtmin + 4, machine: 'poweroff', container: 'poweroff', subreaper: 'poweroff', why: 'systemd' },
    { name: 'SIGRTMIN+5', number: sigrtmin + 5, machine: 'reboot', container: 'reboot', subreaper: 'reboot', why: 'systemd' },
    { name: 'SIGHUP', number: 1, machine: 'reload', container: 'reload', subreaper: 'reload', why: 'reload service definitions' },
  ];
}
