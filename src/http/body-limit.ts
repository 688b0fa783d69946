/**
 * Body limits on every route. Fastify bounds the bodies it reads (POST, DELETE...: 413 once the
 * route's `bodyLimit` is passed, announced or counted); the bodies of GET and HEAD requests it
 * never reads. This hook gives those the same answer when their announced length is over the
 * route's limit, instead of answering and then draining the body. (A chunked GET body carries no
 * length: it is ignored and drained by node, never buffered.)
 */
import type { FastifyRequest } from 'fastify';
import { HeraldError } from '../errors/index.ts';

export async function refuseOversizedUnreadBody(request: FastifyRequest): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return;
  const announced = Number(request.headers['content-length'] ?? 0);
  const limit = request.routeOptions.bodyLimit;
  if (limit !== undefined && announced > limit) throw new HeraldError('payload_too_large');
}
