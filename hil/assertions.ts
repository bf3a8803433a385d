/**
 * Assertion evaluation: each assertion of a scenario becomes PASS, FAIL or SKIPPED with the
 * value that was measured, in words (`measured`) and as a number where there is one (`value`).
 */
import { logLine } from './agent-host.js';
import type { FaultRecord, Observations } from './observations.js';
import type { AssertionSpec } from './scenario.js';

export type AssertionStatus = 'PASS' | 'FAIL' | 'SKIPPED';

export interface AssertionResult {
  kind: AssertionSpec['kind'];
  /** The assertion in words: `alarmStoredWithin 2002 ≤ 2000 ms`. */
  label: string;
  status: AssertionStatus;
  /** What was measured, in words. */
  measured: string;
  /** The measured figure the verdict rests on, when there is one. */
  value: number | boolean | null;
}

export function evaluate(spec: AssertionSpec, obs: Observations): AssertionResult {
  const at = (ms: number): string => `+${((ms - obs.t0) / 1000).toFixed(1)} s`;
  const result = (
    label: string,
    status: AssertionStatus,
    measured: string,
    value: number | boolean | null,
  ): AssertionResult => ({ kind: spec.kind, label, status, measured, value });
  const pass = (ok: boolean): AssertionStatus => (ok ? 'PASS' : 'FAIL');

  switch (spec.kind) {
    case 'alarmStoredWithin': {
      const label = `alarmStoredWithin ${spec.code} ≤ ${spec.ms} ms${spec.which === 'first' ? ' (first raise)' : ''}`;
      if (obs.rigKind !== 'sim')
        return result(label, 'SKIPPED', "needs the simulator's raise times", null);
      let raises = obs.simRaises.filter((r) => r.code === spec.code && r.visible);
      if (spec.which === 'first') raises = raises.slice(0, 1);
      if (raises.length === 0)
        return result(label, 'FAIL', `the controller never raised ${spec.code}`, null);
      const latencies = raises.map((r) => {
        const alarm = obs.hub.alarms.find(
          (a) => a.code === spec.code && a.state === 'raised' && a.storedAtMs >= r.atMs,
        );
        return alarm === undefined ? undefined : alarm.storedAtMs - r.atMs;
      });
      const stored = latencies.filter((l): l is number => l !== undefined);
      const worst = stored.length === 0 ? null : Math.max(...stored);
      const lost = raises.length - stored.length;
      const words =
        (lost > 0
          ? `${lost} of ${raises.length} raises never stored`
          : `${raises.length} raise${raises.length === 1 ? '' : 's'} stored`) +
        (worst === null
          ? ''
          : `; worst ${worst} ms (raised at ${at(raises[latencies.indexOf(worst)]!.atMs)})`);
      return result(label, pass(lost === 0 && worst !== null && worst <= spec.ms), words, worst);
    }

    case 'everyCounterRead': {
      const label = 'everyCounterRead';
      const names = obs.counters.map((c) => c.name);
      const since = lastFaultEnd(obs);
      const after = obs.agent.snapshots.filter((s) => s.atMs >= since);
      const complete = after.find((s) => names.every((n) => s.read.includes(n)));
      const sinceWords = since === obs.t0 ? 'the start' : `the last fault ended (${at(since)})`;
      if (complete)
        return result(
          label,
          'PASS',
          `all ${names.length} counters read at ${at(complete.atMs)}, after ${sinceWords}`,
          true,
        );
      const last = after.at(-1);
      const lastError = obs.agent.pollErrors.at(-1);
      const words = last
        ? `no complete read after ${sinceWords}; the last (${at(last.atMs)}) missed ${names.filter((n) => !last.read.includes(n)).join(', ')}`
        : `no reads at all after ${sinceWords} (${obs.agent.pollErrors.length} poll errors${lastError ? `, last ${lastError.code}` : ''})`;
      return result(label, 'FAIL', words, false);
    }

    case 'agentRunning': {
      const label = 'agentRunning';
      const windowMs = Math.max(3 * obs.agentPollMs, 2000);
      const polls = obs.agent.snapshots.filter((s) => s.atMs >= obs.endMs - windowMs).length;
      if (!obs.agent.aliveAtEnd) {
        const exit = obs.agent.exit;
        return result(
          label,
          'FAIL',
          `the agent process had exited${exit ? ` (code ${exit.code}, signal ${exit.signal})` : ''}`,
          false,
        );
      }
      return result(
        label,
        pass(polls > 0),
        `alive (pid ${obs.agent.pid}), ${polls} poll${polls === 1 ? '' : 's'} in the last ${(windowMs / 1000).toFixed(1)} s, tunnel ${obs.agent.tunnelAtEnd ?? 'unknown'}`,
        polls > 0,
      );
    }

    case 'noUnhandledErrors': {
      const label = 'noUnhandledErrors';
      const exit = obs.agent.exit;
      const logs = obs.agent.stderr.map(logLine);
      const stray = obs.agent.stderr.filter((_l, i) => logs[i] === undefined);
      const errorLogs = logs.filter((l) => l?.level === 'error').length;
      const cleanExit = exit !== undefined && exit.code === 0 && !exit.killed;
      const ok = obs.agent.uncaught.length === 0 && cleanExit;
      const first = obs.agent.uncaught[0];
      const exitWords =
        exit === undefined
          ? 'still running'
          : exit.killed
            ? 'killed after not stopping'
            : `exit code ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}`;
      const words =
        `${obs.agent.uncaught.length} uncaught exceptions/unhandled rejections, ${exitWords}, ` +
        `${errorLogs} error-level log lines, ${stray.length} other stderr lines` +
        (first ? `; first: ${first.origin} ${first.name}: ${first.message}` : '') +
        (!ok && stray.length > 0 ? `; stderr: ${stray.slice(0, 3).join(' | ')}` : '');
      return result(label, pass(ok), words, obs.agent.uncaught.length);
    }

    case 'maxAlarmsStored': {
      const label = `maxAlarmsStored ${spec.code} ≤ ${spec.max}`;
      const alarms = obs.hub.alarms.filter((a) => a.code === spec.code);
      const raised = alarms.filter((a) => a.state === 'raised');
      const standsFor = raised.reduce((n, a) => n + 1 + a.missedRaises, 0);
      const simRaised = obs.simRaises.filter((r) => r.code === spec.code).length;
      return result(
        label,
        pass(alarms.length <= spec.max),
        `${plural(alarms.length, 'alarm record')} (${raised.length} raised, ${alarms.length - raised.length} cleared) standing for ${plural(standsFor, 'raise')}` +
          (obs.rigKind === 'sim' ? `; the controller raised it ${plural(simRaised, 'time')}` : ''),
        alarms.length,
      );
    }

    case 'raisesReported': {
      const label = `raisesReported ${spec.code} ≥ ${spec.atLeast}`;
      const raised = obs.hub.alarms.filter((a) => a.code === spec.code && a.state === 'raised');
      const standsFor = raised.reduce((n, a) => n + 1 + a.missedRaises, 0);
      const simRaised = obs.simRaises.filter((r) => r.code === spec.code).length;
      return result(
        label,
        pass(standsFor >= spec.atLeast),
        `the hub's alarms for ${spec.code} stand for ${plural(standsFor, 'raise')} (${plural(raised.length, 'raised record')} and the raises they carry)` +
          (obs.rigKind === 'sim' ? `; the controller raised it ${plural(simRaised, 'time')}` : ''),
        standsFor,
      );
    }

    case 'telemetryLost': {
      const label = `telemetryLost ≤ ${spec.max}`;
      const stats = obs.agent.finalStats ?? obs.agent.lastStats;
      if (stats === undefined) return result(label, 'FAIL', 'the agent reported no stats', null);
      const lost =
        Math.max(0, stats.samplesAccepted - obs.hub.counts.samples) +
        Math.max(0, stats.alarmsAccepted - obs.hub.counts.alarms);
      return result(
        label,
        pass(lost <= spec.max),
        `${lost} lost: the agent accepted ${stats.samplesAccepted} samples and ${stats.alarmsAccepted} alarms, the hub stored ${obs.hub.counts.samples} and ${obs.hub.counts.alarms}` +
          (obs.agent.finalStats ? '' : ' (the agent did not stop cleanly: its last stats)'),
        lost,
      );
    }

    case 'samplesAtLeast': {
      const n = obs.hub.counts.samples;
      return result(
        `samplesAtLeast ${spec.min}`,
        pass(n >= spec.min),
        `${n} samples stored at the hub`,
        n,
      );
    }

    case 'counterWrapped':
      return counterWrapped(spec.counter, obs, at, result);

    case 'recoversWithin': {
      const label = `recoversWithin ${spec.ms} ms`;
      const reboots = obs.faults.filter(
        (f) => f.spec.fault === 'reboot' && f.outcome.status === 'applied',
      );
      if (reboots.length === 0) return result(label, 'SKIPPED', 'no reboot in this run', null);
      const names = obs.counters.map((c) => c.name);
      const parts: string[] = [];
      let worst = 0;
      let ok = true;
      for (const r of reboots) {
        const up = obs.power.find((p) => p.state === 'up' && p.atMs >= r.atMs);
        if (!up) {
          ok = false;
          parts.push(`the controller rebooted at ${at(r.atMs)} did not come back`);
          continue;
        }
        const read = obs.agent.snapshots.find(
          (s) => s.atMs >= up.atMs && names.every((n) => s.read.includes(n)),
        );
        if (!read) {
          ok = false;
          parts.push(`no complete read after the controller came back at ${at(up.atMs)}`);
          continue;
        }
        const ms = read.atMs - up.atMs;
        worst = Math.max(worst, ms);
        if (ms > spec.ms) ok = false;
        parts.push(`back at ${at(up.atMs)}, every counter read ${ms} ms later`);
      }
      return result(label, pass(ok), parts.join('; '), worst);
    }
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** When the last applied fault stopped acting (the controller back up, a storm or hold over). */
export function lastFaultEnd(obs: Observations): number {
  let end = obs.t0;
  for (const f of obs.faults)
    if (f.outcome.status === 'applied') end = Math.max(end, faultEnd(f, obs));
  return end;
}

function faultEnd(f: FaultRecord, obs: Observations): number {
  const s = f.spec;
  switch (s.fault) {
    case 'reboot':
      return obs.power.find((p) => p.state === 'up' && p.atMs >= f.atMs)?.atMs ?? f.atMs + s.downMs;
    case 'storm':
      return f.atMs + s.durationMs;
    case 'inject':
      return f.atMs + (s.holdMs ?? 0);
    case 'expose':
      return f.atMs + (s.count - 1) * s.everyMs;
    default:
      return f.atMs;
  }
}

const BITS: Record<string, number> = { u16: 16, u32: 32, i16: 16, i32: 32 };

function counterWrapped(
  counter: string,
  obs: Observations,
  at: (ms: number) => string,
  result: (
    label: string,
    s: AssertionStatus,
    m: string,
    v: number | boolean | null,
  ) => AssertionResult,
): AssertionResult {
  const label = `counterWrapped ${counter}`;
  const def = obs.counters.find((c) => c.name === counter);
  if (!def) return result(label, 'FAIL', `the register map has no counter ${counter}`, null);
  const bits = BITS[def.type];
  if (bits === undefined || def.type.startsWith('i'))
    return result(
      label,
      'FAIL',
      `${counter} is ${def.type}, not an unsigned integer counter`,
      null,
    );
  const modulus = 2 ** bits * def.scale;
  const series = obs.hub.samples
    .map((s) => ({ tMs: s.tMs, v: s.values[counter] }))
    .filter((p): p is { tMs: number; v: number } => typeof p.v === 'number');
  if (series.length < 2)
    return result(label, 'FAIL', `${series.length} stored values of ${counter}`, false);
  const outOfRange = series.find((p) => p.v < 0 || p.v >= modulus);
  if (outOfRange)
    return result(
      label,
      'FAIL',
      `stored value ${outOfRange.v} at ${at(outOfRange.tMs)} is outside 0..${modulus}`,
      false,
    );
  const wraps: string[] = [];
  for (let i = 1; i < series.length; i++) {
    const a = series[i - 1]!;
    const b = series[i]!;
    if (b.v >= a.v) continue;
    if (b.v + modulus - a.v >= modulus / 2)
      return result(
        label,
        'FAIL',
        `went backwards without wrapping: ${a.v} at ${at(a.tMs)} → ${b.v} at ${at(b.tMs)}`,
        false,
      );
    wraps.push(`${a.v} → ${b.v} between ${at(a.tMs)} and ${at(b.tMs)}`);
  }
  const last = series.at(-1)!;
  if (wraps.length === 0)
    return result(
      label,
      'FAIL',
      `never wrapped: ${series[0]!.v} … ${last.v} over ${series.length} samples`,
      false,
    );
  let tail = '';
  if (obs.simFinal?.quiet) {
    const controller = obs.simFinal.counters[counter];
    if (controller !== undefined && Math.abs(controller - last.v) > def.scale / 2)
      return result(
        label,
        'FAIL',
        `wrapped (${wraps.join('; ')}) but the last stored ${last.v} ≠ the controller's ${controller}`,
        false,
      );
    tail = `; last ${last.v} = the controller's`;
  }
  return result(
    label,
    'PASS',
    `wrapped ${wraps.length === 1 ? 'once' : `${wraps.length} times`}: ${wraps.join('; ')}${tail}`,
    true,
  );
}
