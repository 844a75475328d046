import { join } from 'node:path';
import { ensureTlsMaterial } from './tls';

/**
 * `node dist/local/azure/ca.js`: makes sure the local CA exists and prints its path. SDKs that take no
 * per-client CA (Application Insights) trust it through NODE_EXTRA_CA_CERTS, which Node reads only at
 * start, so the CA must exist before the process that needs it starts.
 */
console.log(ensureTlsMaterial(join(__dirname, '..', '..', '..', '.local', 'tls')).caCertPath);
