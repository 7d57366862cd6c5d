// mvdan-sh ships no types; the policy engine reads its nodes field by field (shell.ts).
declare module 'mvdan-sh' {
  const sh: { syntax: unknown };
  export default sh;
}
