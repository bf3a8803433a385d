import { describe, expect, it } from 'vitest';
import { ControllerLogs } from './logs.js';
import { ControllerModel } from './model.js';
import { ModelFaults } from './model-faults.js';
import { SimBadArgumentError } from './errors.js';

/** Runs `minutes` of a busy room through a model, syncing the logs every 100 ms like the simulator. */
function run(
  seed: number,
  minutes: number,
  options: ConstructorParameters<typeof ControllerLogs>[1] = {},
) {
  const model = new ControllerModel({
    seed,
    wallClock: () => 0,
    workload: { exposuresPerMinute: 20 },
  });
  const logs = new ControllerLogs(model, { seed, ...options });
  for (let t = 0; t < minutes * 600; t++) {
    model.step(100);
    logs.sync();
  }
  return { model, logs };
}

function allText(logs: ControllerLogs): string {
  return logs
    .list()
    .map((f) => Buffer.from(logs.read(f.name)!).toString('latin1'))
    .join('');
}

/** The DICOM-style patient attributes the redaction must catch. */
const PATIENT_PATTERNS = {
  name: /\(0010,0010\) PN \[[A-Z]+\^[A-Z]+\]/,
  id: /\(0010,0020\) LO \[PID-\d{6}\]/,
  birthDate: /\(0010,0030\) DA \[(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d)\]/,
};

describe('ControllerLogs', () => {
  it('starts with rotated history: files of at most 64 KiB, names that count up', () => {
    const model = new ControllerModel({ seed: 1 });
    const logs = new ControllerLogs(model);
    const files = logs.list();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.length).toBeLessThanOrEqual(5);
    expect(files.map((f) => f.name)).toEqual(
      files.map((_, i) => `xr200-${String(i + 1).padStart(4, '0')}.log`),
    );
    for (const f of files) expect(f.bytes).toBeLessThanOrEqual(65_536);
    for (const f of files.slice(0, -1)) expect(f.bytes).toBeGreaterThan(60_000);
    // mtimes increase and the last history line is before boot (epoch 2026-01-05T07:00Z)
    expect(files.map((f) => f.modifiedMs)).toEqual(
      [...files.map((f) => f.modifiedMs)].sort((a, b) => a - b),
    );
    logs.close();
  });

  it('writes lines with fake patient identifiers in DICOM form and in free text', () => {
    const { logs } = run(7, 5);
    const lines = allText(logs).split('\n');
    const name = lines.filter((l) => PATIENT_PATTERNS.name.test(l));
    const id = lines.filter((l) => PATIENT_PATTERNS.id.test(l));
    const dob = lines.filter((l) => PATIENT_PATTERNS.birthDate.test(l));
    expect(name.length).toBeGreaterThan(50);
    expect(id.length).toBeGreaterThan(name.length); // also on every image transfer
    expect(dob.length).toBe(name.length);
    expect(lines.some((l) => /operator note: ".*DOB \d\d\.\d\d\.\d{4}/.test(l))).toBe(true);
    // Every line: ISO time, level, source, text.
    for (const l of lines.filter((x) => x !== ''))
      expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR) \S+ +\S/);
  });

  it('logs the model: exposures with technique, errors raised and cleared, the door', () => {
    const model = new ControllerModel({ seed: 2, workload: { enabled: false } });
    const logs = new ControllerLogs(model, { historyBytes: 0 });
    model.step(1000);
    model.expose(81.5, 320, 100);
    logs.sync();
    model.inject(2003);
    model.clear(2003);
    model.setDoor(false);
    logs.sync();
    const text = allText(logs);
    expect(text).toMatch(/GEN {2}EXPOSURE n=1 kV=81\.5 mA=320\.0 ms=100 mAs=32\.00 heat=/);
    expect(text).toMatch(/WKL {2}STUDY OPEN acc=ACC\d{8} exam="abdomen AP" \(0010,0010\) PN \[/);
    expect(text).toMatch(/ERROR ERR {2}2003 TUBE_ROTOR_FAULT raised \(injected\): Anode rotor/);
    expect(text).toMatch(/INFO {2}ERR {2}2003 TUBE_ROTOR_FAULT cleared \(manual\)/);
    expect(text).toMatch(/WARN {2}IL {3}door opened/);
    expect(text).toMatch(/ERROR ERR {2}4001 INTERLOCK_DOOR_OPEN raised \(model\)/);
    // Times are the fixed epoch plus model time.
    expect(text).toMatch(/^2026-01-05T07:00:00\.000Z INFO {2}SYS {2}XR-200 controller boot/);
    expect(text).toMatch(/2026-01-05T07:00:01\.000Z INFO {2}GEN {2}EXPOSURE/);
  });

  it('writes a boot line when the controller comes back from a reboot', () => {
    const model = new ControllerModel({ seed: 2, workload: { enabled: false } });
    const faults = new ModelFaults(model);
    const logs = new ControllerLogs(model, { historyBytes: 0, power: faults });
    faults.reboot({ downMs: 100 });
    faults.step(200);
    const text = allText(logs);
    expect(text).toMatch(/watchdog: controller restart\n(.*\n)*.*controller boot/);
  });

  it('rotates at fileBytes and keeps only the newest `keep` files', () => {
    const { logs } = run(3, 30, { fileBytes: 8192, keep: 3, historyBytes: 0 });
    const files = logs.list();
    expect(files).toHaveLength(3);
    const numbers = files.map((f) => Number(/-(\d{4})\.log$/.exec(f.name)![1]));
    expect(numbers[0]).toBeGreaterThan(1);
    expect(numbers).toEqual([numbers[0], numbers[0]! + 1, numbers[0]! + 2]);
    for (const f of files) expect(f.bytes).toBeLessThanOrEqual(8192);
    // Every file ends with a whole line.
    for (const f of files)
      expect(Buffer.from(logs.read(f.name)!).toString('latin1').endsWith('\n')).toBe(true);
    expect(logs.read('xr200-0001.log')).toBeUndefined();
  });

  it('is deterministic with the seed', () => {
    const a = allText(run(11, 3).logs);
    const b = allText(run(11, 3).logs);
    const c = allText(run(12, 3).logs);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('reads slices; a name and an offset always mean the same bytes', () => {
    const { model, logs } = run(5, 2, { historyBytes: 0 });
    const name = logs.list().at(-1)!.name;
    const before = Buffer.from(logs.read(name)!);
    model.step(60_000);
    logs.sync();
    const after = Buffer.from(logs.read(name)!);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    expect(Buffer.from(logs.read(name, 10, 20)!).equals(after.subarray(10, 30))).toBe(true);
    expect(logs.read(name, after.length + 5, 10)).toEqual(new Uint8Array());
    expect(logs.size(name)).toBe(after.length);
  });

  it('refuses bad options', () => {
    const model = new ControllerModel();
    expect(() => new ControllerLogs(model, { fileBytes: 10 })).toThrow(SimBadArgumentError);
    expect(() => new ControllerLogs(model, { keep: 0 })).toThrow(SimBadArgumentError);
    expect(() => new ControllerLogs(model, { prefix: '../x' })).toThrow(SimBadArgumentError);
  });
});
