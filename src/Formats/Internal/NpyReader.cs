using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>Reads a standalone .npy file: one tensor named "".</summary>
internal static class NpyReader
{
    private static readonly IReadOnlyDictionary<string, MetadataValue> s_noMetadata = new Dictionary<string, MetadataValue>();

    public static (IReadOnlyDictionary<string, MetadataValue>, List<TensorEntry>) Read(SafeFileHandle handle, long length, LoadLimits limits)
    {
        var cursor = new FileCursor(handle, length, ModelFileFormat.Npy);
        byte[] prefix = cursor.ReadBytes(Math.Min(length, NpyHeaderParser.PrefixLength(limits)), "the .npy header");
        NpyHeader header = NpyHeaderParser.Parse(prefix, length, limits, ModelFileFormat.Npy, 0);
        CheckTotal(header.ByteLength, limits, ModelFileFormat.Npy);
        return (s_noMetadata, [ToEntry("", header, header.DataOffset, null)]);
    }

    internal static TensorEntry ToEntry(string name, NpyHeader header, long dataOffset, DeflatedMember? deflated) =>
        new(name, header.DType, header.DType.MlxName(), header.Shape, header.ElementCount, header.ByteLength, dataOffset)
        {
            IsFortranOrder = header.FortranOrder,
            IsBigEndian = header.BigEndian,
            Deflated = deflated,
        };

    internal static void CheckTotal(long total, LoadLimits limits, ModelFileFormat format)
    {
        if (total > limits.MaxTotalTensorBytes)
        {
            throw new ModelFormatException(format, $"tensor data totals {total} bytes, over the limit of {limits.MaxTotalTensorBytes} (LoadLimits.MaxTotalTensorBytes)");
        }
    }
}
