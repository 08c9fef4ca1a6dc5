// @peculiar/x509 registers its algorithms through tsyringe, which needs a Reflect metadata polyfill at load
// time. Import this module before `@peculiar/x509` (docs/adr/0005).
import 'reflect-metadata';
