// Node loader hook that makes wukongimjssdk@1.0.4 loadable by Node 20 (see
// shared spec wkproto.md §12): its lib/*.js files are ES modules without "type": "module" in
// the package.json, and they import siblings without the ".js" extension and the package
// directory itself ("." / "./").
const SDK_LIB = '/node_modules/wukongimjssdk/lib/';

export async function resolve(specifier, context, nextResolve) {
  if (context.parentURL?.includes(SDK_LIB)) {
    if (specifier === '.' || specifier === './') return nextResolve('./index.js', context);
    if (/^\.\.?\//.test(specifier) && !specifier.endsWith('.js')) {
      return nextResolve(specifier + '.js', context);
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  return nextLoad(url, url.includes(SDK_LIB) ? { ...context, format: 'module' } : context);
}
