export { type AppDeps, buildApp, type HeraldApp } from './app.ts';
