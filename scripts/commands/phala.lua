-- usage: teehost phala status|auth|cvms|nodes|deploy|docker ... (teehost phala --help for details)
-- summary: Phala Cloud: log in, deploy and manage confidential VMs (the phala 1.0.35 commands)
return require("phala_cli")({ ... })
