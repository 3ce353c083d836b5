// Rebuilds TestUSDC.json (ABI + bytecode) from TestUSDC.sol with solc-js: `npm run build`.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "TestUSDC.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestUSDC.sol": { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts["TestUSDC.sol"].TestUSDC;
const artifact = {
  contractName: "TestUSDC",
  compiler: `solc-js ${solc.version()}`,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
};
fs.writeFileSync(path.join(__dirname, "TestUSDC.json"), JSON.stringify(artifact, null, 2) + "\n");
console.log(`TestUSDC.json written (${contract.evm.bytecode.object.length / 2} bytes of bytecode)`);
