namespace Shoal.Cli;

public static class Help
{
    public const string Overview = """
        shoal — share files between your computers, peer to peer, verified and encrypted.

        usage: shoal COMMAND [options]     (every command takes --home DIR, or SHOAL_HOME)

          init [--name NAME] [--folder DIR] [--join CODE]   create this node (and a network, unless joining)
          invite                                            print an invite code for this node's network
          up [--listen H:P] [--api H:P] [--peer H:P]...     run the node in the foreground
             [--allow-subnet CIDR]... [--limit-up R] [--limit-down R] [--no-discovery]
          status [--json]                                   this node, its network and peers
          share PATH... [--json]                            publish files from where they are; prints links
          put PATH... [--replicas N] [--json]               store files into the network, N copies of each chunk
          get LINK... [-o DIR] [--detach]                   download from every node that has the file
          transfers [--json]                                downloads: state, progress, rate, ETA, sources
          pause LINK... / resume LINK...                    stop a download keeping what it has / carry on (or retry)
          ls [TEXT] [--json]                                files known in the network (names containing TEXT)
          peers [--json]                                    known nodes, online or offline
          folder [--json]                                   the synced folder: state and recent changes
          top                                               live view: peers, transfers, replication, folder changes
          rm LINK...                                        stop sharing a file (a put file: remove it everywhere)
          revoke DEVICE                                     remove a device from the network
          config [KEY [VALUE]] [--json]                     show or change settings (name, folder, ports, peers, limits...)
          password [--clear]                                set the web UI password (reads it from stdin)
          tracker [--listen H:P] [--db PATH|postgres://...]  run a tracker for nodes on different networks
          relay [--listen H:P]                              forward traffic between nodes behind NATs

          completion bash|zsh                               print a shell completion script

        'shoal help COMMAND' shows a command's options and examples. 'shoal --version' prints the version.
        Exit codes: 0 ok, 1 failed (one line on stderr says why), 2 usage error, 3 the node is not running,
        4 put with fewer copies than asked.

        """;

    private static readonly Dictionary<string, string> Commands = new(StringComparer.Ordinal)
    {
        ["init"] = """
            shoal init [--name NAME] [--folder DIR] [--join CODE]
              Creates this node's identity (an ECDSA P-256 key and certificate; the device ID is its hash) and config.
              Without --join it also creates a new network; with --join it joins the network of the invite code.
              On an already initialised home it changes nothing and says so.
            examples:
              shoal init --name laptop
              shoal init --name desk --join shoal-invite:...
            """,
        ["invite"] = """
            shoal invite
              Prints one line: a code that lets another computer join this node's network (it contains the network
              secret: share it only with machines you trust). Works with the node stopped.
            example:
              shoal init --name desk --join "$(ssh laptop shoal invite)"
            """,
        ["up"] = """
            shoal up [--listen HOST:PORT] [--api HOST:PORT] [--peer HOST:PORT]... [--tracker URL]... [--folder DIR] [--no-discovery]
                     [--limit-up RATE] [--limit-down RATE] [--store-quota SIZE] [--down-after SECONDS] [--max-peers N]
                     [--log-level LEVEL] [--log-format plain|json|systemd]
              Runs the node until Ctrl-C or SIGTERM. Initialises the home first if needed.
              --listen   peer protocol address (default [::]:7420, every interface, IPv4 and IPv6)
              --api      web UI and REST API (default 127.0.0.1:7421; port 0 picks a free one)
              --peer     a peer to keep connected to (repeatable)
              --tracker  a tracker's URL, e.g. http://tracker.example:7423 (repeatable): this node registers there,
                         says what it holds, and dials the other members the tracker knows of
              --limit-up / --limit-down   bytes per second, e.g. 20M (0 = unlimited); change them at run time with
                         PUT /api/limits
              --store-quota SIZE   room for chunks kept for others (put files), e.g. 50G (default 10G)
              --down-after SECONDS   a node silent this long is down: its chunks are copied elsewhere (default 30)
              --max-peers N   peer links at once (default 64, 0 = no limit); a node dialling in beyond them is told
                         "busy" and dials again 10 s later
              --allow-subnet CIDR   only peers from these subnets may connect or announce (repeatable)
              --no-discovery        do not announce on the LAN or listen for announcements (UDP, default port 7422;
                                    --discovery-port to change it)
              --log-level  trace, debug, information (default), warning, error
              --log-format plain (default: one line, local time), json (one object per line, UTC time, the values of
                         each message as fields) or systemd (syslog priorities for the journal; the default when
                         started by systemd, which sets JOURNAL_STREAM)
            examples:
              shoal up --peer 192.168.1.20:7420
              shoal up --log-format json --log-level debug 2>&1 | jq -c 'select(.LogLevel != "Debug")'
              systemctl --user enable --now shoal           # with packaging/shoal.service (see the README)
            """,
        ["put"] = """
            shoal put PATH... [--replicas N] [--json]
              Stores files into the network: every chunk goes to N different nodes (default 2), chosen by their free
              store quota, so the file stays available after this node leaves. Prints one link per file. Exit 0 once
              every chunk has N copies; exit 4, saying how many copies there are, when too few nodes are reachable
              (the file is kept, and copied further as nodes appear). Survivors restore N copies when a node is down.
            example:
              shoal put ~/backup.tar --replicas 3
            """,
        ["status"] = """
            shoal status [--json]
              This node: device ID, name, network, addresses, peers online, transfers, trackers, the synced folder.
              Exit 3 if it is not running.
            examples:
              shoal status
              shoal status --json | jq -r .api
            """,
        ["transfers"] = """
            shoal transfers [--json]
              Every download this node has: name, state (waiting, downloading, paused, completed, failed, diskfull), how much is
              verified, rate, time left and how many nodes it gets chunks from. --json prints the whole list.
            examples:
              shoal transfers
              shoal transfers --json | jq -r '.[] | select(.state == "failed") | .link'
            """,
        ["folder"] = """
            shoal folder [--events N] [--json]
              The synced folder: its path, whether it is in sync, how many files it holds, and its recent changes
              (what, which node, when; the last 20, or N).
            examples:
              shoal folder
              shoal folder --events 100 --json
            """,
        ["config"] = """
            shoal config [KEY [VALUE]] [--json]
              Without KEY: every setting, one 'KEY = VALUE' per line. With KEY: its value. With KEY VALUE: checks the
              value and saves it in config.json. A running node uses name, downloads, uploadLimit, downloadLimit and
              added peers at once; the rest from its next start (the command says which). With the node stopped the
              file is changed and the node uses it when it starts. A bad key or value exits 2 saying what is wrong.
              Keys: name, folder, downloads (directories; empty: the default in the home), listen, api
              (HOST:PORT), peers, trackers, relays, allowSubnets (comma-separated lists; empty clears), relayListen, discovery (true or
              false), discoveryPort, uploadLimit, downloadLimit, storeQuota (sizes like 20M, 0 = unlimited),
              trashDays, downAfterSeconds, maxPeers. The web UI password is set with 'shoal password'.
            examples:
              shoal config
              shoal config name desk
              shoal config uploadLimit 20M
              shoal config peers 192.168.1.20:7420,nas.lan:7420
              shoal config --json | jq .storeQuota
            """,
        ["completion"] = """
            shoal completion bash|zsh
              Prints a completion script: commands, each command's flags, directories for --home, -o and --folder,
              setting names for 'shoal config'.
            examples:
              source <(shoal completion bash)                                   # in ~/.bashrc
              shoal completion bash > ~/.local/share/bash-completion/completions/shoal
              shoal completion zsh > "${fpath[1]}/_shoal"                      # then start a new zsh
            """,
        ["help"] = "shoal help [COMMAND]\n  Lists the commands, or shows one command's options and examples.\nexample:\n  shoal help get\n",
        ["share"] = "shoal share PATH... [--json]\n  Publishes files (a directory: every file in it) from where they are, and prints one link per file. Shows how far\n  the hashing is (redrawn on a terminal, a line every few seconds otherwise).\nexample:\n  shoal share ~/big.iso\n",
        ["get"] = """
            shoal get LINK... [-o DIR] [--detach] [--wait SECONDS]
              Downloads into DIR (default: the current directory) from every node that holds chunks, showing
              progress. Exits 0 only when the file is complete and verified. --detach returns once the node has
              accepted the download. An interrupted download resumes when asked again or when the node restarts.
              --wait   how long to wait for a source to come online before giving up (default 60; the node keeps
                       the download queued either way)
            example:
              shoal get 'shoal:<id>?name=big.iso' -o ~/Downloads
            """,
        ["ls"] = "shoal ls [TEXT] [--json]\n  Files known in the network (from peers and trackers), or those whose names contain TEXT (any case): link, name,\n  size, replicas (fewest online nodes holding any one chunk), local state.\nexamples:\n  shoal ls iso\n  shoal ls --json | jq -r '.[] | select(.replicas < 2) | .name'\n",
        ["tracker"] = """
            shoal tracker [--listen HOST:PORT] [--db PATH|postgres://USER:PASSWORD@HOST:PORT/DB] [--interval SECONDS]
                          [--relay HOST:PORT]... [--log-level LEVEL] [--log-format plain|json|systemd]
              Runs a tracker until Ctrl-C or SIGTERM: a metadata server where nodes of one or more networks register,
              say which files and chunks they hold, and find each other across networks that LAN discovery cannot
              cross. It stores metadata only (names, sizes, ids, who holds which chunks, addresses), never content or
              anything that lets it join a network; every request is signed by a member's device key and network key.
              --listen    address to serve on (default [::]:7423, every interface)
              --db        SQLite file (default tracker.db in the current directory), or a PostgreSQL URL so that
                          several trackers behind one load balancer share their state
              --interval  seconds between a node's announces (default 30); a node silent for three is dropped
              --relay     a relay ('shoal relay') the tracker tells every node of (repeatable)
              It also tells each node whether it can be dialled (it connects back), and coordinates hole punching
              between two nodes behind NATs (both dial each other at once, from their listen ports).
              --log-level, --log-format   as for 'shoal up'
            example:
              shoal tracker --db /var/lib/shoal/tracker.db
              shoal up --tracker http://tracker.example:7423
            """,
        ["relay"] = """
            shoal relay [--listen HOST:PORT] [--rate RATE] [--sessions N] [--log-level LEVEL] [--log-format plain|json|systemd]
              Runs a relay until Ctrl-C or SIGTERM: nodes behind NATs that cannot punch a hole to each other talk
              through it. It forwards bytes of the nodes' own end-to-end TLS, so it can neither read nor alter what
              passes; only members of a network (proven with the network's key) may use it, and each network gets
              at most --sessions sessions and --rate bytes per second (both directions together).
              --listen    address to serve on (default [::]:7424, every interface)
              --rate      bytes per second per network, e.g. 20M (default 32M; 0 = unlimited)
              --sessions  relayed sessions at once per network (default 16)
            example:
              shoal relay --listen [::]:7424
              shoal tracker --relay relay.example:7424       # offered to every node of the tracker
              shoal config relays relay.example:7424         # or set on a node
            """,
        ["top"] = """
            shoal top
              A live full-screen view of the running node: peers (online or offline, last seen, round-trip time,
              rates) with a traffic graph, transfers (progress bar, rate, time left, sources) and puts under way,
              replication health (per put file: copies now against copies asked for), and a log of the synced
              folder's changes (when, what, which path, which node). The node pushes every change; the screen
              follows the terminal's size.
              keys: q or Esc quits (Ctrl-C too); Up/Down (k/j) and PgUp/PgDn scroll the log back, Home goes to the
                    oldest change, End follows new ones again; Ctrl-L redraws.
              When stdout is not a terminal it prints plain lines instead: a summary (peers, rates in whole KiB/s,
              transfers, folder, replication) when it changes, at most every 2 s, and a line for each folder change
              and each peer going online or offline. Ends on Ctrl-C or SIGTERM (exit 0), or when the node stops
              (exit 3, as when it is not running).
            examples:
              shoal top
              shoal top --home /srv/shoal
              shoal top > top.log             # plain lines, for a log
            """,
        ["peers"] = "shoal peers [--json]\n  Known nodes: device ID, name, addresses, online or offline, last seen.\nexample:\n  shoal peers --json | jq -r '.[] | select(.online) | .name'\n",
        ["rm"] = "shoal rm LINK...\n  Stops sharing files from this node (a put file: removes it from every node's store). Never deletes the file\n  itself, nor anything in the synced folder.\nexample:\n  shoal rm 'shoal:<id>?name=big.iso'\n",
        ["pause"] = """
            shoal pause LINK...
              Stops a download. What it has verified stays (in HOME/partial), also across restarts; the file is not
              served to others meanwhile beyond those chunks.
            example:
              shoal pause 'shoal:<id>?name=big.iso'
            """,
        ["resume"] = """
            shoal resume LINK...
              Carries on with a paused download from where it stopped, or tries a failed one again.
            example:
              shoal resume 'shoal:<id>?name=big.iso'
            """,
        ["password"] = """
            shoal password [--clear]
              Sets the password of the web UI and API (read from stdin, one line; typed without echo on a terminal).
              With a password the page asks for it instead of trusting the browser on this computer, and the node may
              listen on a non-loopback --api address (it refuses to without one). --clear removes it. A running node
              applies it at its next start.
            example:
              shoal password            # then type it
              echo 'long passphrase' | shoal password --home /srv/shoal
            """,
        ["revoke"] = """
            shoal revoke DEVICE
              Removes a device from the network. Every member learns it (members pass it on) and refuses that device
              from then on, even though it still knows the network secret. To also stop anyone holding an old invite
              from joining, rotate the secret (see the README).
            example:
              shoal revoke ABCDEFG-HIJKLMN-OPQRSTU-VWXYZ23-4567ABC-DEFGHIJ-KLMNOPQ-RSTUVWX
            """,
    };

    public static int Print(string command)
    {
        if (!Commands.TryGetValue(command, out var text))
        {
            Console.Error.WriteLine($"shoal: no help for '{command}'");
            Console.Out.Write(Overview);
            return ExitCodes.Usage;
        }

        Console.Out.Write(text);
        return ExitCodes.Success;
    }
}
