using Shoal.Core;

namespace Shoal.Replication;

/// <summary>A node that can hold chunks, with the free store quota it has left, in bytes.</summary>
public sealed record Member(DeviceId Device, long FreeBytes);
