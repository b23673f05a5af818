using Shoal.Core;
using Shoal.Net;

namespace Shoal.Node.Home;

public sealed record InitResult(DeviceId DeviceId, NetworkId Network, bool AlreadyInitialised, bool Joined);

/// <summary>Creating a node's identity and network membership: <c>shoal init</c> and <c>shoal invite</c>.</summary>
public static class NodeSetup
{
    public static InitResult Init(NodeHome home, string? name, string? folder, string? joinCode)
    {
        InviteCode? invite = null;
        if (joinCode is not null && !InviteCode.TryParse(joinCode, out invite, out var error))
        {
            throw new ArgumentException($"the invite code is not valid: {error}");
        }

        if (home.IsInitialised)
        {
            using var existing = NodeIdentity.LoadOrCreate(home.Root);
            var membership = NetworkMembership.Load(home.MembershipPath);
            return new InitResult(existing.DeviceId, membership.Network, AlreadyInitialised: true, Joined: false);
        }

        home.EnsureCreated();
        using var identity = NodeIdentity.LoadOrCreate(home.Root);
        var network = invite?.Membership ?? NetworkMembership.CreateNew();
        network.Save(home.MembershipPath);
        var config = new NodeConfig
        {
            Name = string.IsNullOrWhiteSpace(name) ? Environment.MachineName : name.Trim(),
            Folder = folder is null ? null : Path.GetFullPath(folder),
            Peers = invite?.Addresses.ToList() ?? [],
        };
        config.Save(home);
        return new InitResult(identity.DeviceId, network.Network, AlreadyInitialised: false, Joined: invite is not null);
    }

    /// <summary>An invite carries the secret: whoever holds it can join. Addresses let the newcomer find us.</summary>
    public static string CreateInvite(NodeHome home, IReadOnlyList<string> addresses)
    {
        if (!home.IsInitialised) throw new InvalidOperationException($"{home.Root} is not initialised; run 'shoal init' first");
        using var identity = NodeIdentity.LoadOrCreate(home.Root);
        var membership = NetworkMembership.Load(home.MembershipPath);
        var config = NodeConfig.Load(home);
        return new InviteCode(membership, identity.DeviceId, config.Name, addresses).Encode();
    }
}
