import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import {
  appendBytesField,
  DEVICE_AUTH_SIGNATURE_FIELD,
  deviceSigningInput,
  encodeBody,
  encodeFrameWithBody,
  tlsExporter,
  HUB_AUTH_SIGNATURE_FIELD,
  hubSigningInput,
  PROTOCOL_VERSION,
  rawField,
  BODY_FIELD,
  TERMINATED_UPSTREAM_MARKER,
  withoutField,
  type Frame,
} from '../codec/index.js';
import { TunnelError } from './errors.js';
import { verifyEd25519, type DeviceIdentity } from './identity.js';

/** ChannelBinding enum values of the protocol. */
const BINDING_TLS_EXPORTER = 1;
const BINDING_TERMINATED_UPSTREAM = 2;

/**
 * The agent's side of one inner handshake (docs/protocol.md): answers Hello with a signed
 * DeviceAuth and checks the hub's signature on HubAuth. One instance per connection.
 */
export class AgentHandshake {
  readonly #binding: Uint8Array;
  readonly #bindingKind: number;
  #hello: Uint8Array | undefined;
  #deviceAuth: Uint8Array | undefined;

  constructor(
    private readonly o: {
      deviceId: string;
      agentVersion: string;
      streamId: string;
      identity: DeviceIdentity;
      hubIdentityKey: Uint8Array;
      /** The TLS socket to the hub; undefined when `terminatedUpstream`. */
      socket: TLSSocket | undefined;
      terminatedUpstream: boolean;
      now: () => number;
    },
  ) {
    if (o.terminatedUpstream) {
      this.#binding = TERMINATED_UPSTREAM_MARKER;
      this.#bindingKind = BINDING_TERMINATED_UPSTREAM;
    } else {
      if (!o.socket || typeof o.socket.exportKeyingMaterial !== 'function') {
        throw new TunnelError('TUNNEL_PROTOCOL_ERROR', 'no TLS session to bind the handshake to');
      }
      this.#binding = tlsExporter(o.socket);
      this.#bindingKind = BINDING_TLS_EXPORTER;
    }
  }

  /** Step 2: the DeviceAuth frame answering `helloFrame` (raw bytes as received). */
  answerHello(helloFrame: Uint8Array): Uint8Array {
    this.#hello = Uint8Array.from(helloFrame);
    const unsigned = encodeBody({
      type: 'deviceAuth',
      deviceAuth: {
        deviceId: this.o.deviceId,
        version: PROTOCOL_VERSION,
        nonce: randomBytes(32),
        binding: this.#bindingKind,
        agentVersion: this.o.agentVersion,
        streamId: this.o.streamId,
      },
    });
    const signature = this.o.identity.sign(
      deviceSigningInput(this.#hello, unsigned, this.#binding),
    );
    const body = appendBytesField(unsigned, DEVICE_AUTH_SIGNATURE_FIELD, signature);
    this.#deviceAuth = encodeFrameWithBody(
      { deviceId: this.o.deviceId, seq: 0, sentAtMs: this.o.now() },
      'deviceAuth',
      body,
    );
    return this.#deviceAuth;
  }

  /** Step 3: checks the hub's signature over the whole transcript. Throws TUNNEL_HUB_AUTH_FAILED. */
  verifyHubAuth(frameBytes: Uint8Array, frame: Extract<Frame, { type: 'hubAuth' }>): void {
    if (!this.#hello || !this.#deviceAuth) {
      throw new TunnelError('TUNNEL_PROTOCOL_ERROR', 'HubAuth before Hello');
    }
    const body = rawField(frameBytes, BODY_FIELD.hubAuth);
    const signature = frame.hubAuth.signature ?? new Uint8Array();
    const input = body
      ? hubSigningInput(
          this.#hello,
          this.#deviceAuth,
          withoutField(body, HUB_AUTH_SIGNATURE_FIELD),
          this.#binding,
        )
      : undefined;
    if (!input || !verifyEd25519(input, signature, this.o.hubIdentityKey)) {
      throw new TunnelError(
        'TUNNEL_HUB_AUTH_FAILED',
        'the hub did not prove it holds the pinned hub identity key (wrong hub, a relay, or a misconfigured load balancer mode); not sending anything',
      );
    }
  }
}
