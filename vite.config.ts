// The renderer is built by Vite into dist/renderer. JSX goes through esbuild's automatic runtime (the
// React plugin is not needed for a production build).
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'renderer',
  base: './',
  esbuild: { jsx: 'automatic' },
  build: { outDir: '../dist/renderer', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  logLevel: 'warn',
});
