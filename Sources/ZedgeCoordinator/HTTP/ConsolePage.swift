import ZedgeCore

/// The console pages' HTML (`GET /console/{token}`). Each page opens `<its own URL>/websocket`, so it holds
/// nothing but what its URL already says. `window.zedgeConsole` reports the state (`connecting`, `connected`,
/// `closed`) for people and for the headless-browser test.
enum ConsolePage {
    static func escape(_ text: String) -> String { MarkupEscape.text(text) }

    static let style = """
        html,body{margin:0;height:100%;background:#1e1e1e;color:#ddd;font-family:sans-serif}
        #bar{height:2em;line-height:2em;padding:0 .6em;background:#333;font-size:90%}
        #screen{position:absolute;top:2em;bottom:0;left:0;right:0;overflow:auto}
        pre#screen{margin:0;padding:.4em;font:14px/1.25 monospace;white-space:pre-wrap;word-break:break-all;outline:none}
        """

    static let socketURL = """
        const socketURL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname.replace(/\\/$/, '') + '/websocket';
        const bar = document.getElementById('state');
        function state(s, text) { window.zedgeConsole = s; bar.textContent = text; }
        """

    /// noVNC's `RFB` on the tunnel's WebSocket (the `binary` subprotocol, as noVNC asks for it).
    static func vnc(title: String) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>\(escape(title)) — console</title><style>\(style)</style></head>
        <body><div id="bar">\(escape(title)) · <span id="state">connecting…</span></div><div id="screen"></div>
        <script type="module">
        import RFB from '/console/novnc/core/rfb.js';
        \(socketURL)
        state('connecting', 'connecting…');
        const rfb = new RFB(document.getElementById('screen'), socketURL, { wsProtocols: ['binary'] });
        rfb.scaleViewport = true;
        window.zedgeRFB = rfb;
        rfb.addEventListener('connect', () => state('connected', 'connected'));
        rfb.addEventListener('disconnect', e => state('closed', e.detail.clean ? 'closed' : 'connection lost'));
        rfb.addEventListener('securityfailure', e => state('closed', 'refused: ' + (e.detail.reason || e.detail.status)));
        </script></body></html>
        """
    }

    /// The serial port as a terminal: what the guest writes is shown (escape sequences dropped), and keys are
    /// sent as the bytes a terminal sends.
    static func serial(title: String) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>\(escape(title)) — serial console</title><style>\(style)</style></head>
        <body><div id="bar">\(escape(title)) · serial · <span id="state">connecting…</span></div><pre id="screen" tabindex="0"></pre>
        <script>
        \(socketURL)
        const screen = document.getElementById('screen');
        const decoder = new TextDecoder();
        const socket = new WebSocket(socketURL);
        socket.binaryType = 'arraybuffer';
        state('connecting', 'connecting…');
        socket.onopen = () => { state('connected', 'connected'); screen.focus(); };
        socket.onclose = e => state('closed', 'closed' + (e.reason ? ': ' + e.reason : ''));
        socket.onmessage = e => {
            const text = decoder.decode(new Uint8Array(e.data), { stream: true })
                .replace(/\\x1b\\[[0-9;?]*[A-Za-z]/g, '').replace(/\\r/g, '');
            for (const c of text) {
                if (c === '\\b' || c === '\\x7f') screen.textContent = screen.textContent.slice(0, -1);
                else screen.textContent += c;
            }
            if (screen.textContent.length > 200000) screen.textContent = screen.textContent.slice(-100000);
            screen.scrollTop = screen.scrollHeight;
        };
        const keys = { Enter: '\\r', Backspace: '\\x7f', Tab: '\\t', Escape: '\\x1b', ArrowUp: '\\x1b[A', ArrowDown: '\\x1b[B',
                       ArrowRight: '\\x1b[C', ArrowLeft: '\\x1b[D', Home: '\\x1b[H', End: '\\x1b[F', Delete: '\\x1b[3~' };
        screen.addEventListener('keydown', e => {
            if (socket.readyState !== WebSocket.OPEN) return;
            let send = keys[e.key];
            if (!send && e.ctrlKey && e.key.length === 1) send = String.fromCharCode(e.key.toUpperCase().charCodeAt(0) & 31);
            if (!send && e.key.length === 1 && !e.metaKey) send = e.key;
            if (!send) return;
            e.preventDefault();
            socket.send(new TextEncoder().encode(send));
        });
        screen.addEventListener('paste', e => { socket.send(new TextEncoder().encode(e.clipboardData.getData('text'))); e.preventDefault(); });
        window.zedgeSerial = socket;
        </script></body></html>
        """
    }

    static func novncMissing(directory: String) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Console unavailable</title><style>\(style)</style></head>
        <body><div id="bar">console unavailable</div><p style="padding:1em">The browser console needs noVNC, which is not
        installed on this coordinator (looked for <code>\(escape(directory))/core/rfb.js</code>). Install Debian's
        <code>novnc</code> package (<code>apt install novnc</code>; the coordinator's package recommends it), or set
        <code>novncDirectory</code>. The console's WebSocket URL works without it, e.g. with <code>zedgectl</code>.</p></body></html>
        """
    }
}
