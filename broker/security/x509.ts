// Throwaway X.509 certificates for a local cluster, made with node:crypto alone.
//
// `npm start -- --secure` needs a CA and a certificate per broker before the first broker starts.
// Node can sign and verify but cannot issue a certificate, and shelling out to `openssl` would make
// every developer machine (and CI image) carry it at run time; so this module encodes the few DER
// structures a certificate needs by hand. It is for a cluster on one machine that is thrown away
// with its data directory: no revocation, no name constraints, no key protection. It is not a CA
// for production, where certificates come from the operator's own PKI.
//
//   Certificate SEQUENCE
//     tbsCertificate SEQUENCE
//       version               [0] EXPLICIT INTEGER 2 (v3)
//       serialNumber          INTEGER, 16 random bytes, positive
//       signature             SEQUENCE { OID ecdsa-with-SHA256 }       (parameters absent)
//       issuer, (subject)     SEQUENCE { SET { SEQUENCE { OID commonName, UTF8String } } }
//       validity              SEQUENCE { notBefore, notAfter }          (UTCTime, or GeneralizedTime from 2050)
//       subject               as issuer
//       subjectPublicKeyInfo  the key's 'spki' DER export, as is
//       extensions            [3] EXPLICIT SEQUENCE OF SEQUENCE { OID, critical BOOLEAN if true, OCTET STRING { value } }
//     signatureAlgorithm      SEQUENCE { OID ecdsa-with-SHA256 }
//     signatureValue          BIT STRING { DER ECDSA-Sig-Value over the tbsCertificate bytes }
//
// Only a caller setting up a local cluster (broker/local/local-cluster.ts) and tests call this.

import assert from 'node:assert/strict'
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { ConfigError } from '../config-def.js'

/** The one curve we issue on: P-256 is what every TLS stack (Node, Java, Go, browsers) accepts. */
const CURVE = 'prime256v1'
/** Validity when the caller names none: outlives any local cluster run; a leaked key soon expires. */
const DAYS_DEFAULT = 30
/** Apple platforms reject TLS server certificates valid for longer than 825 days. */
const DAYS_MAX = 825
/** notBefore is backdated so that a container or VM whose clock lags the host's still accepts the cert. */
const NOT_BEFORE_BACKDATE_MS = 60 * 60 * 1000
const DAY_MS = 24 * 60 * 60 * 1000
/** RFC 5280 allows up to 20 serial octets; 16 random ones make a collision between two runs negligible. */
const SERIAL_BYTES = 16
/** RFC 5280's ub-common-name. */
const COMMON_NAME_CHARS_MAX = 64
/** A DNS name's length limit (RFC 1035). */
const DNS_NAME_CHARS_MAX = 253
/** Bound on SAN entries: a local cluster names a handful of hosts; hundreds would be a bug. */
const SAN_ENTRIES_MAX = 64
/** Our certificates are under 1 KiB; a two-octet DER length is far beyond any we make. */
const DER_LENGTH_MAX = 0xffff

/** Object identifiers, dotted. */
const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const

/** Universal DER tags (class universal, constructed bit set for SEQUENCE and SET). */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const

/** Context-specific tag bases: constructed for EXPLICIT wrappers, primitive for IMPLICIT primitives. */
const CONTEXT_CONSTRUCTED = 0xa0
const CONTEXT_PRIMITIVE = 0x80

/** GeneralName choices (implicit tags) used in subjectAltName, and keyIdentifier in authorityKeyIdentifier. */
const GENERAL_NAME_DNS = 2
const GENERAL_NAME_IP = 7
const AKI_KEY_IDENTIFIER = 0

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const

export interface GeneratedCert {
  /** The certificate, PEM ("CERTIFICATE"). */
  certPem: string
  /** Its private key, PKCS#8 PEM ("PRIVATE KEY"), unencrypted. */
  keyPem: string
}

// ---- DER encoding: pure leaf helpers ----

function derLength(length: number): Buffer {
  assert(Number.isInteger(length) && length >= 0 && length <= DER_LENGTH_MAX, `DER length ${length} out of range`)
  if (length < 0x80) return Buffer.from([length])
  return length <= 0xff ? Buffer.from([0x81, length]) : Buffer.from([0x82, length >> 8, length & 0xff])
}

function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content])
}

/** The DER encoder: each function returns one complete TLV. */
const der = {
  sequence: (...items: Uint8Array[]): Buffer => tlv(TAG.sequence, Buffer.concat(items)),
  /** DER orders a SET OF by its members' encodings; we only ever make one-member sets, so assert it. */
  set: (...items: Uint8Array[]): Buffer => {
    assert.equal(items.length, 1, 'a SET of more than one member would need sorting')
    return tlv(TAG.set, Buffer.concat(items))
  },
  boolean: (value: boolean): Buffer => tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00])),
  /** An INTEGER from unsigned big-endian bytes: leading zeros dropped, a 0x00 added if the top bit is set. */
  unsignedInteger: (bytes: Uint8Array): Buffer => {
    let start = 0
    while (start < bytes.length - 1 && bytes[start] === 0) start += 1
    const trimmed = bytes.length === 0 ? Buffer.from([0]) : Buffer.from(bytes.subarray(start))
    return tlv(TAG.integer, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed)
  },
  smallInteger: (value: number): Buffer => {
    assert(Number.isInteger(value) && value >= 0 && value < 0x80, `small INTEGER ${value} out of range`)
    return tlv(TAG.integer, Buffer.from([value]))
  },
  oid: (dotted: string): Buffer => tlv(TAG.oid, oidContent(dotted)),
  utf8String: (text: string): Buffer => tlv(TAG.utf8String, Buffer.from(text, 'utf8')),
  /** A BIT STRING whose first content octet counts the unused low bits of the last octet. */
  bitString: (bytes: Uint8Array, unusedBits = 0): Buffer => {
    assert(unusedBits >= 0 && unusedBits <= 7 && (bytes.length > 0 || unusedBits === 0))
    return tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), bytes]))
  },
  octetString: (bytes: Uint8Array): Buffer => tlv(TAG.octetString, bytes),
  /** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; both to the second, in UTC. */
  time: (date: Date): Buffer => {
    const digits = date.toISOString().slice(0, 19).replace(/\D/g, '')
    const year = date.getUTCFullYear()
    if (year >= 1950 && year < 2050) return tlv(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`, 'latin1'))
    return tlv(TAG.generalizedTime, Buffer.from(`${digits}Z`, 'latin1'))
  },
  explicit: (tagNumber: number, inner: Uint8Array): Buffer => tlv(CONTEXT_CONSTRUCTED | tagNumber, inner),
  implicitPrimitive: (tagNumber: number, content: Uint8Array): Buffer => tlv(CONTEXT_PRIMITIVE | tagNumber, content),
}

/** An OID's content octets: the first two arcs as 40*a+b, then each arc base 128, high bit on all but the last. */
function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  const [first = -1, second = -1, ...rest] = arcs
  assert(arcs.every((arc) => Number.isSafeInteger(arc) && arc >= 0), `bad OID ${dotted}`)
  assert(first <= 2 && second >= 0 && (first === 2 || second < 40), `bad OID ${dotted}`)
  const out: number[] = []
  for (const arc of [first * 40 + second, ...rest]) {
    const group = [arc % 128]
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) group.unshift((high % 128) | 0x80)
    out.push(...group)
  }
  return Buffer.from(out)
}

/** A named-bit BIT STRING (DER: trailing zero bits are not encoded, the unused count says how many). */
function namedBits(bits: number[]): Buffer {
  assert(bits.length > 0)
  const highest = Math.max(...bits)
  const bytes = Buffer.alloc((highest >> 3) + 1)
  for (const bit of bits) bytes.writeUInt8(bytes.readUInt8(bit >> 3) | (0x80 >> (bit & 7)), bit >> 3)
  return der.bitString(bytes, 7 - (highest & 7))
}

// ---- DER reading: just enough to take a key's bits out of an SPKI and a name out of a certificate ----

interface Tlv {
  tag: number
  /** Offset of the tag octet. */
  offset: number
  /** Offset of the first content octet. */
  start: number
  /** Offset just past the last content octet. */
  end: number
}

function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset]
  const first = buf[offset + 1]
  assert(tag !== undefined && first !== undefined, 'DER truncated')
  let start = offset + 2
  let length = first
  if (first & 0x80) {
    const octets = first & 0x7f
    assert(octets >= 1 && octets <= 4, `DER length of ${octets} octets`)
    assert(start + octets <= buf.length, 'DER truncated')
    length = buf.readUIntBE(start, octets)
    start += octets
  }
  assert(start + length <= buf.length, 'DER truncated')
  return { tag, offset, start, end: start + length }
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = parent.start; at < parent.end; at = out[out.length - 1]?.end ?? parent.end) out.push(readTlv(buf, at))
  return out
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value (not its tag, length or unused-bits octet). */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0)
  const bits = children(spki, outer)[1]
  assert(outer.tag === TAG.sequence && bits?.tag === TAG.bitString && spki[bits.start] === 0, 'not an SPKI')
  return createHash('sha1').update(spki.subarray(bits.start + 1, bits.end)).digest()
}

/** The subject Name of a DER certificate, byte for byte, to become a leaf's issuer. */
function subjectName(certDer: Buffer): Buffer {
  const tbs = children(certDer, readTlv(certDer, 0))[0]
  assert(tbs?.tag === TAG.sequence, 'not a certificate')
  const fields = children(certDer, tbs)
  // With the [0] version field present, the fields are version, serial, signature, issuer, validity, subject.
  const subject = fields[fields[0]?.tag === (CONTEXT_CONSTRUCTED | 0) ? 5 : 4]
  assert(subject?.tag === TAG.sequence, 'certificate has no subject')
  return certDer.subarray(subject.offset, subject.end)
}

// ---- certificate structure ----

function name(commonName: string): Buffer {
  return der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(commonName))))
}

function extension(id: string, options: { critical: boolean }, value: Buffer): Buffer {
  // DER omits a BOOLEAN equal to its DEFAULT (critical DEFAULT FALSE).
  return der.sequence(der.oid(id), ...(options.critical ? [der.boolean(true)] : []), der.octetString(value))
}

function subjectAltName(dnsNames: string[], ipAddresses: string[]): Buffer {
  const names = [
    ...dnsNames.map((dns) => der.implicitPrimitive(GENERAL_NAME_DNS, Buffer.from(dns, 'ascii'))),
    ...ipAddresses.map((ip) => der.implicitPrimitive(GENERAL_NAME_IP, ipOctets(ip))),
  ]
  return extension(OID.subjectAltName, { critical: false }, der.sequence(...names))
}

function ipOctets(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  if (!isIPv6(ip) || ip.includes('%')) throw new ConfigError(`Not an IP address for a certificate: ${JSON.stringify(ip)}`)
  // Expand a dotted IPv4 tail (::ffff:10.0.0.1) into two hex groups, then the one '::' into zero groups.
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip)
  let text = ip
  if (v4Tail?.[1] !== undefined) {
    const v4 = Buffer.from(v4Tail[1].split('.').map(Number))
    text = `${ip.slice(0, v4Tail.index)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeroGroups = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length
  const groups = [...headGroups, ...Array<string>(zeroGroups).fill('0'), ...tailGroups]
  assert.equal(groups.length, 8, `IPv6 ${ip} did not expand to 8 groups`)
  const out = Buffer.alloc(16)
  groups.forEach((group, i) => out.writeUInt16BE(Number.parseInt(group, 16), i * 2))
  return out
}

/** Positive and exactly SERIAL_BYTES long: the top bit cleared (positive), the next set (no leading zero to trim). */
function serialNumber(): Buffer {
  const serial = randomBytes(SERIAL_BYTES)
  serial.writeUInt8((serial.readUInt8(0) & 0x7f) | 0x40, 0)
  return serial
}

interface CertSpec {
  /** The subject Name, DER. */
  subject: Buffer
  /** The issuer Name, DER: the subject itself for the CA, the CA's subject bytes for a leaf. */
  issuer: Buffer
  /** The subject's public key, SPKI DER. */
  spki: Buffer
  /** The issuer's private key, which signs. */
  signingKey: KeyObject
  days: number
  nowMs: number
  /** Complete Extension encodings, in the order they are to appear. */
  extensions: Buffer[]
}

function signCertificate(spec: CertSpec): Buffer {
  const algorithm = der.sequence(der.oid(OID.ecdsaWithSha256))
  const validity = der.sequence(der.time(new Date(spec.nowMs - NOT_BEFORE_BACKDATE_MS)), der.time(new Date(spec.nowMs + spec.days * DAY_MS)))
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serialNumber()),
    algorithm,
    spec.issuer,
    validity,
    spec.subject,
    spec.spki,
    der.explicit(3, der.sequence(...spec.extensions)),
  )
  const signature = sign('sha256', tbs, { key: spec.signingKey, dsaEncoding: 'der' })
  return der.sequence(tbs, algorithm, der.bitString(signature))
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

// ---- option checks: these values may come from a command line, so they are typed errors ----

function checkDays(days: number | undefined): number {
  const value = days ?? DAYS_DEFAULT
  if (!Number.isInteger(value) || value < 1 || value > DAYS_MAX) throw new ConfigError(`Certificate validity must be 1..${DAYS_MAX} days, got ${value}`)
  return value
}

function checkCommonName(commonName: string): string {
  const chars = [...commonName].length
  if (chars < 1 || chars > COMMON_NAME_CHARS_MAX) throw new ConfigError(`A certificate's common name must be 1..${COMMON_NAME_CHARS_MAX} characters, got ${JSON.stringify(commonName)}`)
  return commonName
}

function checkSan(dnsNames: string[], ipAddresses: string[]): void {
  if (dnsNames.length + ipAddresses.length > SAN_ENTRIES_MAX) throw new ConfigError(`At most ${SAN_ENTRIES_MAX} subject alternative names, got ${dnsNames.length + ipAddresses.length}`)
  for (const dns of dnsNames) {
    // A wildcard may only be the whole leftmost label; IA5String carries ASCII only.
    if (dns.length > DNS_NAME_CHARS_MAX || !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(dns)) {
      throw new ConfigError(`Not a DNS name for a certificate: ${JSON.stringify(dns)}`)
    }
  }
  for (const ip of ipAddresses) ipOctets(ip)
}

function newKeyPair(): { privateKey: KeyObject; spki: Buffer; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: CURVE })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  return { privateKey, spki, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
}

// ---- public surface ----

/**
 * A self-signed CA: basicConstraints CA:true with pathLen 0 (it signs leaves, never another CA),
 * keyUsage keyCertSign+cRLSign. `clock` (ms since the epoch) defaults to Date.now.
 */
export function generateCa(options: { commonName: string; days?: number; clock?: () => number }): GeneratedCert {
  const days = checkDays(options.days)
  const subject = name(checkCommonName(options.commonName))
  const { privateKey, spki, keyPem } = newKeyPair()
  const keyId = keyIdentifier(spki)
  const certDer = signCertificate({
    subject,
    issuer: subject,
    spki,
    signingKey: privateKey,
    days,
    nowMs: (options.clock ?? Date.now)(),
    extensions: [
      extension(OID.subjectKeyIdentifier, { critical: false }, der.octetString(keyId)),
      extension(OID.authorityKeyIdentifier, { critical: false }, der.sequence(der.implicitPrimitive(AKI_KEY_IDENTIFIER, keyId))),
      extension(OID.basicConstraints, { critical: true }, der.sequence(der.boolean(true), der.smallInteger(0))),
      extension(OID.keyUsage, { critical: true }, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
    ],
  })
  return { certPem: pem('CERTIFICATE', certDer), keyPem }
}

/**
 * A leaf signed by `ca`, for both ends of TLS (extendedKeyUsage serverAuth+clientAuth), its
 * subjectAltName listing `dnsNames` then `ipAddresses` (omitted when both are empty, since an empty
 * SAN is invalid). keyUsage digitalSignature+keyEncipherment: the first is what an ECDSA key does in
 * TLS; the second is meaningless for EC but harmless, and kept for clients that look for it.
 * The authorityKeyIdentifier is the SHA-1 of the CA's key, which is how our CAs (and openssl's
 * `subjectKeyIdentifier = hash`) make their own subjectKeyIdentifier.
 */
export function generateLeafCert(ca: GeneratedCert, options: { commonName: string; dnsNames?: string[]; ipAddresses?: string[]; days?: number; clock?: () => number }): GeneratedCert {
  const days = checkDays(options.days)
  const dnsNames = options.dnsNames ?? []
  const ipAddresses = options.ipAddresses ?? []
  checkSan(dnsNames, ipAddresses)
  const caCert = new X509Certificate(ca.certPem)
  const caKey = createPrivateKey(ca.keyPem)
  if (!caCert.ca || !caCert.checkPrivateKey(caKey)) throw new ConfigError(`Not a CA certificate with its key: ${caCert.subject}`)
  const { privateKey, spki, keyPem } = newKeyPair()
  const caSpki = caCert.publicKey.export({ type: 'spki', format: 'der' })
  const certDer = signCertificate({
    subject: name(checkCommonName(options.commonName)),
    issuer: subjectName(caCert.raw),
    spki,
    signingKey: caKey,
    days,
    nowMs: (options.clock ?? Date.now)(),
    extensions: [
      extension(OID.subjectKeyIdentifier, { critical: false }, der.octetString(keyIdentifier(spki))),
      extension(OID.authorityKeyIdentifier, { critical: false }, der.sequence(der.implicitPrimitive(AKI_KEY_IDENTIFIER, keyIdentifier(caSpki)))),
      extension(OID.basicConstraints, { critical: true }, der.sequence()),
      extension(OID.keyUsage, { critical: true }, namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment])),
      extension(OID.extKeyUsage, { critical: false }, der.sequence(der.oid(OID.serverAuth), der.oid(OID.clientAuth))),
      ...(dnsNames.length + ipAddresses.length > 0 ? [subjectAltName(dnsNames, ipAddresses)] : []),
    ],
  })
  return { certPem: pem('CERTIFICATE', certDer), keyPem }
}
