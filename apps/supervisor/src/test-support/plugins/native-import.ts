import vm from 'node:vm';

/**
 * Node's own dynamic `import()`, out of the test runner's reach. Vitest rewrites every
 * `import()` in the code it runs so modules go through its transform pipeline; plugin files
 * must be loaded the way the built supervisor loads them — by Node, with Node's errors and
 * module cache — so plugin tests pass this as `importModule`. A script compiled with the main
 * context's default loader is the one way in that the runner leaves alone.
 */
export const nativeImport = vm.runInThisContext('(url) => import(url)', {
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
}) as (url: string) => Promise<unknown>;
