import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/** Host names the stand-ins answer for; the loopback seam sends these names over TLS (SNI and Host). */
export const STAND_IN_HOSTS = [
  '*.vault.azure.net',
  '*.managedhsm.azure.net',
  'management.azure.com',
  'login.microsoftonline.com',
  'events.pagerduty.com',
  'localhost',
];

export interface TlsMaterial {
  readonly caCertPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Where the CA certificate was written, for `NODE_EXTRA_CA_CERTS` and `READY` output. */
  readonly caCertPath: string;
}

function keyPair(): forge.pki.rsa.KeyPair {
  // Node's native generator is ~100x faster than forge's pure-JS one.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e) };
}

function serial(): string {
  // Positive serial: clear the top bit.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

function certificate(
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  publicKey: forge.pki.PublicKey,
  signer: forge.pki.rsa.PrivateKey,
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer, forge.md.sha256.create());
  return cert;
}

/**
 * A throw-away CA and a server certificate for the stand-in host names, generated on first use into
 * `dir` (git-ignored `.local/tls`) and reused afterwards. Never committed.
 */
export function ensureTlsMaterial(dir: string): TlsMaterial {
  const caPath = join(dir, 'ca.crt');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  if (existsSync(caPath) && existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    const notAfter = forge.pki.certificateFromPem(certPem).validity.notAfter;
    if (notAfter.getTime() > Date.now() + 7 * 86_400_000) {
      return {
        caCertPem: readFileSync(caPath, 'utf8'),
        certPem,
        keyPem: readFileSync(keyPath, 'utf8'),
        caCertPath: caPath,
      };
    }
  }
  mkdirSync(dir, { recursive: true });
  const ca = keyPair();
  const caName = [{ name: 'commonName', value: 'pg-cmk-rotator local CA' }];
  const caCert = certificate(caName, caName, ca.publicKey, ca.privateKey, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  const leaf = keyPair();
  const leafCert = certificate(
    [{ name: 'commonName', value: 'management.azure.com' }],
    caName,
    leaf.publicKey,
    ca.privateKey,
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...STAND_IN_HOSTS.map((value) => ({ type: 2, value })), { type: 7, ip: '127.0.0.1' }],
      },
    ],
  );
  const material: TlsMaterial = {
    caCertPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(leafCert),
    keyPem: forge.pki.privateKeyToPem(leaf.privateKey),
    caCertPath: caPath,
  };
  writeFileSync(caPath, material.caCertPem);
  writeFileSync(certPath, material.certPem);
  writeFileSync(keyPath, material.keyPem, { mode: 0o600 });
  return material;
}
