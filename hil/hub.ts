/**
 * The hub side of a run: a throwaway PKI (CA, hub server certificate, one device certificate),
 * the reference hub on loopback with an in-memory store, and the device's Ed25519 identity
 * registered the way factory provisioning does it (cli/demo.ts).
 */
import nacl from 'tweetnacl';
import { createTestPki, startHub, type Hub, type KeyPairPem } from '../hub/index.js';

export interface HilHub {
  hub: Hub;
  deviceId: string;
  caPem: string;
  device: KeyPairPem;
  /** The device's Ed25519 secret key (64 bytes), for the agent. */
  identitySecretKey: Uint8Array;
  close(): Promise<void>;
}

export async function startHilHub(deviceId: string): Promise<HilHub> {
  const pki = await createTestPki({ deviceIds: [deviceId], hubName: 'outpost-hil-hub' });
  const hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    hubId: 'hil-hub',
  });
  const identity = nacl.sign.keyPair();
  hub.registerDevice(deviceId, identity.publicKey);
  return {
    hub,
    deviceId,
    caPem: pki.ca.certPem,
    device: pki.devices[deviceId]!,
    identitySecretKey: identity.secretKey,
    close: () => hub.close(),
  };
}
