// jsfive ships no type declarations; ts/src/io/h5.ts types the few members it uses.
declare module 'jsfive';
