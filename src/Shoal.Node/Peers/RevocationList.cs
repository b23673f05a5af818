using Shoal.Core;
using Shoal.Storage;

namespace Shoal.Node.Peers;

/// <summary>
/// Devices removed from the network. A revoked device still knows the secret, so membership alone no longer
/// admits it: every member keeps this list (persisted), refuses those devices, and passes the list on.
/// </summary>
public sealed class RevocationList
{
    private readonly Catalog _catalog;
    private readonly Lock _gate = new();
    private readonly HashSet<DeviceId> _revoked;

    public RevocationList(Catalog catalog)
    {
        _catalog = catalog;
        _revoked = [.. catalog.ListRevokedDevices()];
    }

    public bool IsRevoked(DeviceId device)
    {
        lock (_gate) return _revoked.Contains(device);
    }

    public IReadOnlyList<DeviceId> All
    {
        get
        {
            lock (_gate) return [.. _revoked];
        }
    }

    /// <summary>Records the devices and returns those that were not revoked before.</summary>
    public IReadOnlyList<DeviceId> Add(IEnumerable<DeviceId> devices, DateTimeOffset now)
    {
        var added = new List<DeviceId>();
        lock (_gate)
        {
            foreach (var device in devices)
            {
                if (!_revoked.Add(device)) continue;
                _catalog.RevokeDevice(device, now);
                added.Add(device);
            }
        }

        return added;
    }
}
