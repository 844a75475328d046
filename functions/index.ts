import { app } from '@azure/functions';

/**
 * Entry point of the Functions app (`main` in package.json): the host loads this file, and every
 * `app.*` / `df.app.*` registration of the app is imported from here. Registration only: handlers are
 * built in shared/. The rotation functions (Event Grid intake, orchestrations, activities) are
 * registered when the workflow lands; until then the app registers no functions.
 */
app.setup({ enableHttpStream: false });
