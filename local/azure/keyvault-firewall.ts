import type { Vault } from './keyvault-model';

/**
 * Where the app's data-plane calls come from: a property of the app's network (Flex Consumption VNet
 * integration, private endpoints and DNS in that VNet, its public egress), not of the vault. The vault's
 * ARM JSON stays exactly as ARM returns it; the fleet file says this under `appNetwork`.
 */
export interface AppNetwork {
  /** Public addresses the app's outbound calls leave from, matched against a vault's `ipRules`. */
  readonly outboundIpAddresses: readonly string[];
  /** The app's VNet-integration subnet, matched against a vault's `virtualNetworkRules` (service endpoint). */
  readonly subnetId: string | undefined;
  /** Vaults (by name, lower-case) with a private endpoint the app's VNet resolves and reaches. */
  readonly privateEndpointVaults: ReadonlySet<string>;
}

export const NO_APP_NETWORK: AppNetwork = {
  outboundIpAddresses: [],
  subnetId: undefined,
  privateEndpointVaults: new Set(),
};

/** Key Vault's refusal of the app's network: the 403's inner code and the first line(s) of its message. */
export interface FirewallRefusal {
  /**
   * `ForbiddenByConnection` when public network access is disabled and the call came through no approved
   * private link (microsoft/multimodal-ai#171 quotes the whole answer: "Public network access is
   * disabled and request is not from a trusted service nor via an approved private link." with
   * InnerError {"code":"ForbiddenByConnection"}); `ForbiddenByFirewall` when a deny-by-default firewall
   * has no rule for the caller (Azure-Samples/azuresandbox#429, hashicorp/terraform-provider-azurerm#20742).
   */
  readonly innerCode: 'ForbiddenByConnection' | 'ForbiddenByFirewall';
  readonly message: string;
}

/** Why Key Vault refuses a data-plane call from the app's network; undefined when it lets it through. */
export function firewallRefusal(vault: Vault, app: AppNetwork): FirewallRefusal | undefined {
  // A private endpoint is reached whatever the public settings say (`az keyvault create
  // --public-network-access`, quoted in MicrosoftDocs/azure-docs#99303: with it disabled "all traffic
  // except private endpoint traffic and that originates from trusted services will be blocked").
  if (app.privateEndpointVaults.has(vault.name.toLowerCase())) return undefined;
  const { publicNetworkAccess, networkAcls } = vault.arm;
  // The app (App Service / Functions) is not a trusted service for its own calls (Learn,
  // "overview-vnet-service-endpoints"; Azure/secrets-store-csi-driver-provider-azure#873): `bypass:
  // AzureServices` does not let it in.
  if (publicNetworkAccess.toLowerCase() === 'disabled')
    return {
      innerCode: 'ForbiddenByConnection',
      message:
        'Public network access is disabled and request is not from a trusted service nor via an approved private link.',
    };
  if (networkAcls === undefined || networkAcls.defaultAction.toLowerCase() !== 'deny') return undefined;
  const ipAllowed = app.outboundIpAddresses.some((ip) =>
    networkAcls.ipRules.some((rule) => ipMatches(ip, rule)),
  );
  const subnet = app.subnetId?.toLowerCase();
  const vnetAllowed =
    subnet !== undefined && networkAcls.virtualNetworkRules.some((r) => r.toLowerCase() === subnet);
  if (ipAllowed || vnetAllowed) return undefined;
  return {
    innerCode: 'ForbiddenByFirewall',
    message: `Client address is not authorized and caller is not a trusted service.\r\nClient address: ${app.outboundIpAddresses[0] ?? '198.51.100.20'}`,
  };
}

function ipv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/** An IPv4 address against a Key Vault ipRule: one address or a CIDR range. */
export function ipMatches(ip: string, rule: string): boolean {
  const [base = '', bitsText] = rule.split('/');
  const a = ipv4(ip);
  const b = ipv4(base);
  if (a === undefined || b === undefined) return false;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}
