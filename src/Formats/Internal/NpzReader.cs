using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>
/// Reads a .npz with our own bounded zip central-directory parser. Nothing is extracted to disk: at open
/// each member is streamed once (inflated through a bounded stream) to parse its .npy header, enforce the
/// size caps and check its CRC-32; tensor reads later re-read just that member.
/// </summary>
internal static class NpzReader
{
    private const uint EocdSignature = 0x06054b50;
    private const uint Zip64EocdSignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const uint CentralSignature = 0x02014b50;
    private const uint LocalSignature = 0x04034b50;
    private const int EocdSize = 22;

    private sealed record CdEntry(string Name, byte[] NameBytes, ushort Flags, ushort Method, uint Crc, long CompressedSize,
        long UncompressedSize, long LocalOffset, long EntryOffset);

    private static readonly IReadOnlyDictionary<string, MetadataValue> s_noMetadata = new Dictionary<string, MetadataValue>();

    /// <summary>True when the zip's central directory names a .pkl member (a PyTorch checkpoint); false if unreadable.</summary>
    public static bool ContainsPickle(SafeFileHandle handle, long length, LoadLimits limits)
    {
        try
        {
            List<CdEntry> entries = ReadCentralDirectory(handle, length, limits.MaxNpzMembers, out _);
            return entries.Any(e => e.Name.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase));
        }
        catch (Exception e) when (e is ModelFormatException or IOException)
        {
            return false;
        }
    }

    public static (IReadOnlyDictionary<string, MetadataValue>, List<TensorEntry>) Read(SafeFileHandle handle, long length, LoadLimits limits)
    {
        List<CdEntry> entries = ReadCentralDirectory(handle, length, limits.MaxNpzMembers, out long cdStart);
        var fullNames = new HashSet<string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        long total = 0;
        var spans = new List<(long Start, long End, string Name)>();
        var located = new List<(CdEntry Entry, string Key, long DataStart)>();
        foreach (CdEntry e in entries)
        {
            ModelFormatException Fail(string reason) => new(ModelFileFormat.Npz, $"member '{e.Name}': {reason}", e.EntryOffset);
            if (e.Name.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase))
            {
                throw new ModelFormatException(ModelFileFormat.Npz, "a zip with a .pkl member (a PyTorch checkpoint): " + Messages.Pickle, e.EntryOffset);
            }
            if (!fullNames.Add(e.Name))
            {
                throw Fail("duplicate member name");
            }
            string key = e.Name.EndsWith(".npy", StringComparison.Ordinal) ? e.Name[..^4] : e.Name;
            if (!keys.Add(key))
            {
                throw Fail($"collides with another member named '{key}' once '.npy' is stripped");
            }
            if (!e.Name.EndsWith(".npy", StringComparison.Ordinal))
            {
                throw Fail("is not a .npy array (only .npy members are read)");
            }
            if ((e.Flags & 1) != 0)
            {
                throw Fail("is encrypted");
            }
            if (e.Method is not (0 or 8))
            {
                throw Fail($"compression method {e.Method} is not supported (only stored and deflate)");
            }
            if (e.UncompressedSize > limits.MaxNpzMemberBytes)
            {
                throw Fail($"declares {e.UncompressedSize} bytes uncompressed, over the limit of {limits.MaxNpzMemberBytes} (LoadLimits.MaxNpzMemberBytes)");
            }
            if (!Checked.TryAdd(total, e.UncompressedSize, out total) || total > limits.MaxNpzTotalBytes)
            {
                throw Fail($"members declare more than {limits.MaxNpzTotalBytes} bytes uncompressed in all (LoadLimits.MaxNpzTotalBytes)");
            }
            if (e.Method == 0 && e.CompressedSize != e.UncompressedSize)
            {
                throw Fail("stored member has different compressed and uncompressed sizes");
            }
            long dataStart = ReadLocalHeader(handle, length, e);
            if (!Checked.TryAdd(dataStart, e.CompressedSize, out long dataEnd) || dataEnd > cdStart)
            {
                throw Fail("data runs past the start of the central directory");
            }
            spans.Add((e.LocalOffset, dataEnd, e.Name));
            located.Add((e, key, dataStart));
        }
        // Overlapping members are the classic zip-bomb trick (one compressed stream counted many times).
        spans.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < spans.Count; i++)
        {
            if (spans[i].Start < spans[i - 1].End)
            {
                throw new ModelFormatException(ModelFileFormat.Npz, $"members '{spans[i - 1].Name}' and '{spans[i].Name}' overlap", spans[i].Start);
            }
        }
        var tensors = new List<TensorEntry>(located.Count);
        long tensorTotal = 0;
        foreach ((CdEntry e, string key, long dataStart) in located)
        {
            TensorEntry entry = ValidateMember(handle, e, key, dataStart, limits);
            Checked.TryAdd(tensorTotal, entry.ByteLength, out tensorTotal);
            NpyReader.CheckTotal(tensorTotal, limits, ModelFileFormat.Npz);
            tensors.Add(entry);
        }
        return (s_noMetadata, tensors);
    }

    private static TensorEntry ValidateMember(SafeFileHandle handle, CdEntry e, string key, long dataStart, LoadLimits limits)
    {
        ModelFormatException Fail(string reason) => new(ModelFileFormat.Npz, $"member '{e.Name}': {reason}", dataStart);
        using var region = new FileRegionStream(handle, dataStart, e.CompressedSize);
        using Stream content = e.Method == 8 ? new DeflateStream(region, CompressionMode.Decompress) : region;
        var crc = new Crc32();
        byte[] prefix = new byte[Math.Min(e.UncompressedSize, NpyHeaderParser.PrefixLength(limits))];
        try
        {
            if (ReadFull(content, prefix) != prefix.Length)
            {
                throw Fail("ends before its declared size");
            }
            crc.Append(prefix);
            NpyHeader header;
            try
            {
                header = NpyHeaderParser.Parse(prefix, e.UncompressedSize, limits, ModelFileFormat.Npz, e.Method == 0 ? dataStart : 0);
            }
            catch (ModelFormatException inner)
            {
                // Inside a deflated member only the member's position in the file is meaningful.
                throw new ModelFormatException(ModelFileFormat.Npz, $"member '{e.Name}': {inner.Reason}", e.Method == 0 ? inner.Offset : dataStart, inner);
            }
            long remaining = e.UncompressedSize - prefix.Length;
            byte[] scratch = new byte[64 * 1024];
            while (true)
            {
                // Ask for one byte more than declared so a member that inflates further is caught.
                int want = (int)Math.Min(scratch.Length, remaining + 1);
                int n = content.Read(scratch, 0, want);
                if (n == 0)
                {
                    break;
                }
                if (n > remaining)
                {
                    throw Fail($"inflates past its declared size of {e.UncompressedSize} bytes");
                }
                crc.Append(scratch.AsSpan(0, n));
                remaining -= n;
            }
            if (remaining != 0)
            {
                throw Fail($"ends {remaining} bytes before its declared size");
            }
            if (crc.Value != e.Crc)
            {
                throw Fail($"CRC-32 mismatch (stored {e.Crc:x8}, computed {crc.Value:x8})");
            }
            return e.Method == 0
                ? NpyReader.ToEntry(key, header, dataStart + header.DataOffset, null)
                : NpyReader.ToEntry(key, header, dataStart,
                    new DeflatedMember(e.Name, dataStart, e.CompressedSize, e.UncompressedSize, e.Crc, header.DataOffset));
        }
        catch (InvalidDataException x)
        {
            throw Fail($"corrupt deflate data ({x.Message})");
        }
    }

    private static int ReadFull(Stream s, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = s.Read(buffer[done..]);
            if (n == 0)
            {
                break;
            }
            done += n;
        }
        return done;
    }

    private static long ReadLocalHeader(SafeFileHandle handle, long length, CdEntry e)
    {
        var cursor = new FileCursor(handle, length, ModelFileFormat.Npz, e.LocalOffset);
        if (cursor.ReadU32("a local file header") != LocalSignature)
        {
            throw cursor.Error($"member '{e.Name}': bad local file header signature", e.LocalOffset);
        }
        cursor.Skip(22, "a local file header");
        int nameLength = cursor.ReadU16("a local file header");
        int extraLength = cursor.ReadU16("a local file header");
        byte[] name = cursor.ReadBytes(nameLength, "a member name");
        if (!name.AsSpan().SequenceEqual(e.NameBytes))
        {
            throw cursor.Error($"member '{e.Name}': the local header names a different file", e.LocalOffset);
        }
        cursor.Skip(extraLength, "a local extra field");
        return cursor.Position;
    }

    private static List<CdEntry> ReadCentralDirectory(SafeFileHandle handle, long length, int maxMembers, out long cdStart)
    {
        var whole = new FileCursor(handle, length, ModelFileFormat.Npz);
        if (length < EocdSize)
        {
            throw whole.Error("too short to be a zip", 0);
        }
        int tailLength = (int)Math.Min(length, EocdSize + ushort.MaxValue);
        long tailStart = length - tailLength;
        whole.Skip(tailStart, "the zip tail");
        byte[] tail = whole.ReadBytes(tailLength, "the zip tail");
        int eocd = -1;
        for (int i = tail.Length - EocdSize; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EocdSignature
                && i + EocdSize + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == tail.Length)
            {
                eocd = i;
                break;
            }
        }
        if (eocd < 0)
        {
            throw whole.Error("no zip end-of-central-directory record", length);
        }
        ReadOnlySpan<byte> r = tail.AsSpan(eocd);
        long eocdOffset = tailStart + eocd;
        ushort disk = BinaryPrimitives.ReadUInt16LittleEndian(r[4..]);
        ushort cdDisk = BinaryPrimitives.ReadUInt16LittleEndian(r[6..]);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(r[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(r[12..]);
        cdStart = BinaryPrimitives.ReadUInt32LittleEndian(r[16..]);
        long cdLimit = eocdOffset;
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdStart == 0xFFFFFFFF)
        {
            (count, cdSize, cdStart, cdLimit) = ReadZip64End(handle, length, eocdOffset);
        }
        else if (disk != 0 || cdDisk != 0)
        {
            throw whole.Error("multi-disk zips are not supported", eocdOffset);
        }
        if (count > maxMembers)
        {
            throw whole.Error($"{count} members is over the limit of {maxMembers} (LoadLimits.MaxNpzMembers)", eocdOffset);
        }
        if (!Checked.TryAdd(cdStart, cdSize, out long cdEnd) || cdEnd > cdLimit || !Checked.TryMultiply(count, 46, out long minSize) || minSize > cdSize)
        {
            throw whole.Error("the central directory's size or offset is out of range", eocdOffset);
        }
        var cursor = new FileCursor(handle, cdEnd, ModelFileFormat.Npz, cdStart);
        var entries = new List<CdEntry>((int)Math.Min(count, 4096));
        for (long i = 0; i < count; i++)
        {
            long at = cursor.Position;
            if (cursor.ReadU32("a central directory entry") != CentralSignature)
            {
                throw cursor.Error("bad central directory entry signature", at);
            }
            cursor.Skip(4, "a central directory entry");
            ushort flags = cursor.ReadU16("a central directory entry");
            ushort method = cursor.ReadU16("a central directory entry");
            cursor.Skip(4, "a central directory entry");
            uint crc = cursor.ReadU32("a central directory entry");
            long compressed = cursor.ReadU32("a central directory entry");
            long uncompressed = cursor.ReadU32("a central directory entry");
            int nameLength = cursor.ReadU16("a central directory entry");
            int extraLength = cursor.ReadU16("a central directory entry");
            int commentLength = cursor.ReadU16("a central directory entry");
            ushort startDisk = cursor.ReadU16("a central directory entry");
            cursor.Skip(6, "a central directory entry");
            long localOffset = cursor.ReadU32("a central directory entry");
            byte[] nameBytes = cursor.ReadBytes(nameLength, "a member name");
            byte[] extra = cursor.ReadBytes(extraLength, "a central extra field");
            cursor.Skip(commentLength, "a member comment");
            ApplyZip64Extra(extra, ref uncompressed, ref compressed, ref localOffset, cursor, at);
            if (startDisk != 0 && startDisk != 0xFFFF)
            {
                throw cursor.Error("multi-disk zips are not supported", at);
            }
            string name;
            try
            {
                name = (flags & 0x800) != 0 || Ascii.IsValid(nameBytes) ? FileCursor.Strict.GetString(nameBytes) : Encoding.Latin1.GetString(nameBytes);
            }
            catch (DecoderFallbackException)
            {
                throw cursor.Error("member name is not valid UTF-8", at);
            }
            if (localOffset >= cdStart)
            {
                throw cursor.Error($"member '{name}': local header offset is out of range", at);
            }
            entries.Add(new CdEntry(name, nameBytes, flags, method, crc, compressed, uncompressed, localOffset, at));
        }
        return entries;
    }

    private static void ApplyZip64Extra(byte[] extra, ref long uncompressed, ref long compressed, ref long localOffset, FileCursor cursor, long at)
    {
        bool needU = uncompressed == 0xFFFFFFFF, needC = compressed == 0xFFFFFFFF, needO = localOffset == 0xFFFFFFFF;
        if (!needU && !needC && !needO)
        {
            return;
        }
        ReadOnlySpan<byte> x = extra;
        while (x.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(x);
            int size = BinaryPrimitives.ReadUInt16LittleEndian(x[2..]);
            if (size > x.Length - 4)
            {
                break;
            }
            ReadOnlySpan<byte> body = x.Slice(4, size);
            x = x[(4 + size)..];
            if (id != 1)
            {
                continue;
            }
            int p = 0;
            long Next(ReadOnlySpan<byte> b)
            {
                if (p + 8 > b.Length)
                {
                    throw cursor.Error("truncated zip64 extra field", at);
                }
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(b[p..]);
                p += 8;
                return v > long.MaxValue ? throw cursor.Error("zip64 size out of range", at) : (long)v;
            }
            if (needU)
            {
                uncompressed = Next(body);
            }
            if (needC)
            {
                compressed = Next(body);
            }
            if (needO)
            {
                localOffset = Next(body);
            }
            return;
        }
        throw cursor.Error("zip64 sizes are flagged but the zip64 extra field is missing", at);
    }

    private static (long Count, long Size, long Offset, long Limit) ReadZip64End(SafeFileHandle handle, long length, long eocdOffset)
    {
        var cursor = new FileCursor(handle, length, ModelFileFormat.Npz);
        if (eocdOffset < 20)
        {
            throw cursor.Error("zip64 locator missing", eocdOffset);
        }
        cursor.Skip(eocdOffset - 20, "the zip64 locator");
        if (cursor.ReadU32("the zip64 locator") != Zip64LocatorSignature)
        {
            throw cursor.Error("zip64 locator missing", eocdOffset - 20);
        }
        cursor.Skip(4, "the zip64 locator");
        ulong recordOffset = cursor.ReadU64("the zip64 locator");
        if (recordOffset > (ulong)(eocdOffset - 20 - 56))
        {
            throw cursor.Error("zip64 end record offset is out of range", eocdOffset - 20);
        }
        var rec = new FileCursor(handle, eocdOffset - 20, ModelFileFormat.Npz, (long)recordOffset);
        if (rec.ReadU32("the zip64 end record") != Zip64EocdSignature)
        {
            throw rec.Error("bad zip64 end record signature", (long)recordOffset);
        }
        rec.Skip(12, "the zip64 end record");
        uint disk = rec.ReadU32("the zip64 end record");
        uint cdDisk = rec.ReadU32("the zip64 end record");
        if (disk != 0 || cdDisk != 0)
        {
            throw rec.Error("multi-disk zips are not supported", (long)recordOffset);
        }
        rec.Skip(8, "the zip64 end record");
        ulong count = rec.ReadU64("the zip64 end record");
        ulong size = rec.ReadU64("the zip64 end record");
        ulong offset = rec.ReadU64("the zip64 end record");
        if (count > int.MaxValue || size > long.MaxValue || offset > long.MaxValue)
        {
            throw rec.Error("zip64 central directory values are out of range", (long)recordOffset);
        }
        return ((long)count, (long)size, (long)offset, (long)recordOffset);
    }
}
