// The backend's OpenAPI 3.1 description, served at GET /openapi.json. Kept as a module (not a
// .json file) so the compiled container image carries it without extra copy steps.
import { GREETING } from './routes.ts';

const error = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, reason: { type: 'string' } },
};
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'ms-mtls-demo backend',
    version: '1.0.0',
    description: 'Answers only clients that present a certificate issued by a CA in its truststore (mutual TLS).',
  },
  servers: [{ url: 'https://127.0.0.1:8443' }],
  security: [{ clientCertificate: [] }],
  paths: {
    '/': {
      get: {
        operationId: 'hello',
        summary: 'Greeting for a verified client',
        responses: {
          '200': {
            description: 'The client certificate was accepted',
            content: {
              'application/json': {
                // A getter: this module runs as routes.ts's import, before GREETING is set there.
                schema: { type: 'object', required: ['message'], properties: { message: { get const() { return GREETING; } } } },
              },
            },
          },
          '401': errorResponse('No client certificate (client-auth "want")'),
          '403': errorResponse('Certificate not trusted (client-auth "want") or refused by the allow-list (no entry matches: NOT_ALLOWED; more than one CN: AMBIGUOUS_CN)'),
        },
      },
    },
    '/whoami': {
      get: {
        operationId: 'whoami',
        summary: 'The verified client certificate as the server saw it',
        responses: {
          '200': {
            description: 'Details of the client certificate',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ClientCertificate' } } },
          },
          '401': errorResponse('No client certificate'),
          '403': errorResponse('Certificate not trusted or not allowed'),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1 description', content: { 'application/json': {} } } },
      },
    },
  },
  components: {
    securitySchemes: {
      clientCertificate: { type: 'mutualTLS', description: 'A client certificate signed by a CA in the server truststore (server-truststore.p12).' },
    },
    schemas: {
      Error: error,
      ClientCertificate: {
        type: 'object',
        required: ['subject', 'issuer', 'serialNumber', 'fingerprintSha256', 'validFrom', 'validTo', 'subjectAltNames'],
        properties: {
          subject: { type: 'string', examples: ['C=CO, ST=Bogota, L=Bogota, O=DemomTLSCompany, OU=mTLS, CN=apigee-client'] },
          issuer: { type: 'string' },
          serialNumber: { type: 'string', description: 'Hexadecimal' },
          fingerprintSha256: { type: 'string', description: 'Colon-separated hexadecimal' },
          validFrom: { type: 'string', format: 'date-time' },
          validTo: { type: 'string', format: 'date-time' },
          subjectAltNames: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;
