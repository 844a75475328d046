import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

/**
 * Stands in for Microsoft Entra ID: issues unsigned JWT-shaped tokens naming the principal and the
 * audience, so the stand-ins can check the audience and attribute calls (throttling is per principal).
 */
export class LocalTokenCredential implements TokenCredential {
  constructor(
    readonly principalId: string,
    readonly tenantId: string,
    /** The application (client) id Entra puts in `appid`; absent: the token carries none. */
    readonly clientId?: string,
  ) {}

  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? (scopes[0] ?? '') : scopes;
    const aud = scope.replace(/\/?\.default$/, '');
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud, oid: this.principalId, tid: this.tenantId, ...(this.clientId === undefined ? {} : { appid: this.clientId }), iat: now, exp: now + 3600 })}.`;
    return Promise.resolve({ token, expiresOnTimestamp: (now + 3600) * 1000, tokenType: 'Bearer' });
  }
}

export interface TokenClaims {
  readonly aud: string;
  readonly oid: string;
  readonly tid: string;
  readonly exp: number;
  /** The caller's application (client) id: `appid` (v1 tokens) or `azp` (v2); undefined if absent. */
  readonly appid?: string;
}

/** Reads the claims of a bearer token issued by `LocalTokenCredential`; undefined if it is not one. */
export function readBearer(authorization: string | undefined): TokenClaims | undefined {
  const m = /^Bearer\s+([^.]+)\.([^.]+)\.?/i.exec(authorization ?? '');
  if (m?.[2] === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8')) as Partial<
      TokenClaims & { azp: string }
    >;
    if (typeof claims.aud !== 'string' || typeof claims.oid !== 'string' || typeof claims.exp !== 'number')
      return undefined;
    const appid =
      typeof claims.appid === 'string'
        ? claims.appid
        : typeof claims.azp === 'string'
          ? claims.azp
          : undefined;
    return {
      aud: claims.aud,
      oid: claims.oid,
      tid: claims.tid ?? '',
      exp: claims.exp,
      ...(appid === undefined ? {} : { appid }),
    };
  } catch {
    return undefined;
  }
}
