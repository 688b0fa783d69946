export { adminAuth } from './admin-api.ts';
export { type AppDeps, buildApp, type HeraldApp } from './app.ts';
