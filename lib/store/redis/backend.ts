import type { FastifyBaseLogger } from 'fastify'
import type { ParsedOptions } from '../../options'
import type { ValueCodec } from '../../protocol/codec'
import type { Backend } from '../store'

export async function openRedisBackend (options: ParsedOptions, codec: ValueCodec, log: FastifyBaseLogger): Promise<Backend> {
  throw new Error('placeholder until the Redis store lands')
}
