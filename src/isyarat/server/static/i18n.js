// Every text a person reads on the pages, in Bahasa Indonesia (the default) and English.
// Pages mark their fixed text with data-i18n="key" (and data-i18n-placeholder / data-i18n-label
// for a placeholder / an aria-label); scripts call t("key", {name: value}) for the rest.

export const HOLD_S = 0.5; // the spelling decoder's defaults (isyarat.runtime.spelling)
export const SPACE_AFTER_S = 1.5;

const STRINGS = {
  id: {
    "lang.name": "Bahasa Indonesia",
    "lang.label": "Bahasa halaman",
    "live.title": "isyarat · pengenalan bahasa isyarat langsung",
    "live.tagline": "Tunjukkan isyarat ke kamera: huruf dan kata dibaca langsung dan dieja menjadi teks.",
    "nav.recorder": "Rekam isyarat sendiri",
    "nav.live": "Pengenalan langsung",
    "nav.docs": "API",
    "privacy": "Video tetap di perangkat ini: hanya titik-titik tangan yang dikirim ke server.",
    "legend": "Kerangka oranye: tangan kiri · biru: tangan kanan (gambar dicerminkan seperti cermin).",
    "guide.title": "Cara memakai",
    "guide.place": "Duduk atau berdiri sekitar satu lengan dari kamera, dengan tangan dan dada terlihat.",
    "guide.light": "Cahaya dari depan, bukan jendela di belakang Anda; latar polos membantu.",
    "guide.hands": "Huruf SIBI memakai satu tangan; huruf dan kata BISINDO sering memakai dua tangan.",
    "guide.spell": "Mengeja: tahan setiap huruf sekitar {hold} detik sampai huruf itu tertulis. Huruf berikutnya boleh langsung menyusul.",
    "guide.space": "Spasi antar kata: turunkan tangan sekitar {space} detik. Turun sebentar saja tidak menulis spasi.",
    "guide.double": "Huruf yang sama dua kali (mis. LL): turunkan tangan sebentar di antaranya.",
    "guide.words": "Mode kata: buat isyarat satu kata, lalu turunkan tangan (atau diam sejenak); kata ditulis sekali saat gerakannya selesai.",
    "mode.label": "Huruf atau kata",
    "mode.letters": "Huruf",
    "mode.words": "Kata",
    "label.reading_word": "Membaca isyarat… kata ditulis saat gerakan selesai",
    "announce.word": "kata {letter} ditulis",
    "models.label": "Sistem isyarat dan model",
    "models.letters": "{system} · huruf",
    "models.words": "{system} · kata",
    "models.signs": "{n} isyarat: {labels}",
    "system.SIBI": "SIBI (Sistem Isyarat Bahasa Indonesia) adalah sistem resmi yang diajarkan di sekolah luar biasa. Mengikuti tata bahasa Indonesia; abjad jarinya memakai satu tangan.",
    "system.BISINDO": "BISINDO (Bahasa Isyarat Indonesia) adalah bahasa alami komunitas Tuli, dengan ragam antardaerah. Abjad jarinya kebanyakan memakai dua tangan.",
    "system.KATA KOLOK": "Kata Kolok adalah bahasa isyarat desa Bengkala di Bali.",
    "system.other": "Model {system}.",
    "label.title": "Isyarat terbaca",
    "label.waiting": "Menunggu kamera",
    "label.no_hand": "Tidak ada tangan terlihat",
    "label.no_sign": "Isyarat belum dikenali",
    "label.unknown": "Isyarat tidak dikenal: bukan isyarat dari kosakata model ini",
    "label.offline": "Tidak terhubung ke server",
    "text.title": "Teks",
    "text.empty": "Teks yang dieja muncul di sini.",
    "speak": "Ucapkan",
    "clear": "Hapus",
    "stats": "{fps} frame/detik · server {ms} ms",
    "stats.fps": "{fps} frame/detik",
    "announce.letter": "{letter} ditulis",
    "announce.space": "spasi",
    "state.camera": "Menyalakan kamera…",
    "state.tracker": "Memuat pelacak tangan…",
    "state.connecting": "Menghubungkan ke server…",
    "state.tracking": "Melacak tangan",
    "state.server_lost": "Koneksi ke server terputus. Menyambung ulang dalam {s} detik…",
    "state.reconnecting": "Menyambung ulang ke server…",
    "state.error": "Berhenti: lihat pesan di atas",
    "error.camera_refused": "Izin kamera ditolak. Izinkan kamera untuk halaman ini (ikon kamera di bilah alamat), lalu muat ulang halaman.",
    "error.camera_missing": "Tidak ada kamera. Sambungkan kamera, lalu muat ulang halaman.",
    "error.camera_busy": "Kamera sedang dipakai aplikasi lain. Tutup aplikasi itu, lalu muat ulang halaman.",
    "error.camera_insecure": "Browser hanya mengizinkan kamera di https:// atau di http://localhost. Buka halaman ini lewat http://localhost:{port}/.",
    "error.camera_other": "Kamera tidak bisa dinyalakan ({name}). Periksa kamera, lalu muat ulang halaman.",
    "error.tracker_missing": "Pelacak tangan untuk browser (@mediapipe/hands) belum terpasang di server: jalankan `make setup` (atau `npm install` di folder proyek), lalu mulai ulang server.",
    "error.tracker_failed": "Pelacak tangan gagal dimuat ({name}). Muat ulang halaman.",
    "error.unknown_model": "Server tidak punya model ini: {reason}",
    "error.server": "Server menolak pesan: {reason}",
    "reload": "Muat ulang",
    "rec.title": "isyarat · rekam isyarat sendiri",
    "rec.heading": "Rekam isyarat sendiri",
    "rec.privacy": "Hanya titik-titik tangan (dan tubuh, bila dipilih) yang disimpan, bukan video.",
    "rec.help": "Pilih nama kosakata dan isyarat, tekan Rekam, lalu peragakan isyarat setelah hitungan mundur. Rekam beberapa sampel per isyarat.",
    "rec.vocabulary": "Kosakata (nama dataset)",
    "rec.sign": "Isyarat (label)",
    "rec.sign_placeholder": "mis. Terima Kasih",
    "rec.seconds": "Lama satu sampel (detik)",
    "rec.record": "Rekam",
    "rec.get_ready": "Bersiap: {n}",
    "rec.recording": "Merekam {s} / {total} detik · {n} frame",
    "rec.waiting": "Perangkat lambat: menunggu frame ke-{n}…",
    "rec.saved": "Tersimpan: {path} ({n} frame)",
    "rec.failed": "Gagal menyimpan: {reason}",
    "rec.samples": "Sampel",
    "rec.col_sign": "Isyarat",
    "rec.col_count": "Sampel",
    "rec.train": "Latih model dengan sampel ini",
    "rec.data_dir": "Folder data: {path}",
    "rec.builtin": "Daftar isyarat bawaan",
    "rec.builtin_none": "— kosakata baru (ketik namanya) —",
    "rec.pose": "Rekam juga pose tubuh (MediaPipe Holistic), untuk isyarat yang dibaca bersama tubuh seperti Kata Kolok",
    "rec.pose_fixed": "Kosakata ini sudah direkam dengan pilihan ini; untuk pilihan lain, pakai nama kosakata baru.",
    "rec.signer": "Nama perekam (penanda isyarat)",
    "rec.signer_placeholder": "mis. ani",
    "rec.conditions": "Kondisi (nama=nilai, dipisah koma)",
    "rec.conditions_placeholder": "mis. jarak=1 m, cahaya=redup",
    "rec.saving": "Menyimpan…",
    "rec.retrying": "Jaringan terputus: mengirim ulang (percobaan {n})…",
    "rec.train_button": "Latih model kata",
    "rec.command_note": "Perintah yang sama di terminal (tombol di atas menjalankannya di server):",
    "rec.training": "Melatih: epoch {epoch} dari paling banyak {epochs} · {s} detik",
    "rec.phase_train": "Menyiapkan pelatihan… {s} detik",
    "rec.phase_export": "Mengekspor model… {s} detik",
    "rec.phase_load": "Memuat model ke server… {s} detik",
    "rec.train_done": "Model \"{model}\" siap dalam {s} detik: akurasi {accuracy} pada {n} sampel uji yang tidak dipakai untuk melatih. Buka halaman pengenalan langsung: model ini sudah terpilih.",
    "rec.train_failed": "Pelatihan gagal: {reason}",
    "rec.adapt": "Kalibrasi untuk saya",
    "rec.adapt_help": "Menyesuaikan model yang ada dengan sampel Anda di kosakata ini (beberapa sampel per isyarat cukup); isyarat baru ditambahkan.",
    "rec.adapt_model": "Model",
    "rec.adapt_button": "Kalibrasi untuk saya",
    "rec.adapting": "Mengkalibrasi {model} dengan sampel \"{vocabulary}\"…",
    "rec.adapt_done": "Model \"{model}\" siap ({n} sampel, {s} detik; isyarat baru: {added}). Buka halaman pengenalan langsung: model ini sudah terpilih.",
    "rec.adapt_failed": "Kalibrasi gagal: {reason}",
    "error.holistic_missing": "Pelacak tubuh dan tangan untuk browser (@mediapipe/holistic) belum terpasang di server: jalankan `make setup` (atau `npm install` di folder proyek), lalu mulai ulang server.",
  },
  en: {
    "lang.name": "English",
    "lang.label": "Page language",
    "live.title": "isyarat · live sign language recognition",
    "live.tagline": "Sign to the camera: letters and words are read live and spelled into text.",
    "nav.recorder": "Record your own signs",
    "nav.live": "Live recognition",
    "nav.docs": "API",
    "privacy": "The video stays on this device: only hand landmarks are sent to the server.",
    "legend": "Orange skeleton: left hand · blue: right hand (the picture is mirrored like a mirror).",
    "guide.title": "How to use it",
    "guide.place": "Sit or stand about an arm's length from the camera, with your hands and chest in view.",
    "guide.light": "Light from the front, not a window behind you; a plain background helps.",
    "guide.hands": "SIBI letters use one hand; BISINDO letters and words often use both hands.",
    "guide.spell": "Spelling: hold each letter for about {hold} s until it is written. The next letter can follow straight away.",
    "guide.space": "A space between words: lower your hands for about {space} s. A brief drop writes no space.",
    "guide.double": "The same letter twice (e.g. LL): drop your hand briefly between them.",
    "guide.words": "Word mode: sign one word, then lower your hands (or hold still a moment); the word is written once, when its motion ends.",
    "mode.label": "Letters or words",
    "mode.letters": "Letters",
    "mode.words": "Words",
    "label.reading_word": "Reading the sign… the word is written when the motion ends",
    "announce.word": "word {letter} written",
    "models.label": "Sign system and model",
    "models.letters": "{system} · letters",
    "models.words": "{system} · words",
    "models.signs": "{n} signs: {labels}",
    "system.SIBI": "SIBI (Sistem Isyarat Bahasa Indonesia, the Indonesian Sign System) is the formal system taught in schools for deaf children. It follows Indonesian grammar; its finger alphabet uses one hand.",
    "system.BISINDO": "BISINDO (Bahasa Isyarat Indonesia, Indonesian Sign Language) is the natural language of the Deaf community, with regional variants. Its finger alphabet mostly uses two hands.",
    "system.KATA KOLOK": "Kata Kolok is the village sign language of Bengkala in Bali.",
    "system.other": "A {system} model.",
    "label.title": "Recognized sign",
    "label.waiting": "Waiting for the camera",
    "label.no_hand": "No hand in view",
    "label.no_sign": "Sign not recognized yet",
    "label.unknown": "Unknown sign: not one of this model's signs",
    "label.offline": "Not connected to the server",
    "text.title": "Text",
    "text.empty": "The spelled text appears here.",
    "speak": "Speak",
    "clear": "Clear",
    "stats": "{fps} frames/s · server {ms} ms",
    "stats.fps": "{fps} frames/s",
    "announce.letter": "{letter} written",
    "announce.space": "space",
    "state.camera": "Starting the camera…",
    "state.tracker": "Loading the hand tracker…",
    "state.connecting": "Connecting to the server…",
    "state.tracking": "Tracking hands",
    "state.server_lost": "Lost the connection to the server. Reconnecting in {s} s…",
    "state.reconnecting": "Reconnecting to the server…",
    "state.error": "Stopped: see the message above",
    "error.camera_refused": "Camera permission was refused. Allow the camera for this page (the camera icon in the address bar), then reload the page.",
    "error.camera_missing": "No camera found. Connect a camera, then reload the page.",
    "error.camera_busy": "The camera is in use by another app. Close that app, then reload the page.",
    "error.camera_insecure": "Browsers allow the camera only on https:// or on http://localhost. Open this page at http://localhost:{port}/.",
    "error.camera_other": "The camera could not be started ({name}). Check the camera, then reload the page.",
    "error.tracker_missing": "The browser hand tracker (@mediapipe/hands) is not installed on the server: run `make setup` (or `npm install` in the project folder), then restart the server.",
    "error.tracker_failed": "The hand tracker failed to load ({name}). Reload the page.",
    "error.unknown_model": "The server does not have this model: {reason}",
    "error.server": "The server refused a message: {reason}",
    "reload": "Reload",
    "rec.title": "isyarat · record your own signs",
    "rec.heading": "Record your own signs",
    "rec.privacy": "Only hand (and, when chosen, body) landmarks are saved, never the video.",
    "rec.help": "Choose a vocabulary and a sign name, press Record, and sign after the countdown. Record several samples of each sign.",
    "rec.vocabulary": "Vocabulary (dataset name)",
    "rec.sign": "Sign (label)",
    "rec.sign_placeholder": "e.g. Terima Kasih",
    "rec.seconds": "Length of one sample (seconds)",
    "rec.record": "Record",
    "rec.get_ready": "Get ready: {n}",
    "rec.recording": "Recording {s} / {total} s · {n} frames",
    "rec.waiting": "Slow device: waiting for frame {n}…",
    "rec.saved": "Saved {path} ({n} frames)",
    "rec.failed": "Saving failed: {reason}",
    "rec.samples": "Samples",
    "rec.col_sign": "Sign",
    "rec.col_count": "Samples",
    "rec.train": "Train a model on them",
    "rec.data_dir": "Data folder: {path}",
    "rec.builtin": "Built-in sign list",
    "rec.builtin_none": "— new vocabulary (type its name) —",
    "rec.pose": "Also record the body pose (MediaPipe Holistic), for signs read together with the body, like Kata Kolok",
    "rec.pose_fixed": "This vocabulary is already recorded with this choice; for the other, use a new vocabulary name.",
    "rec.signer": "Signer name (tag)",
    "rec.signer_placeholder": "e.g. ani",
    "rec.conditions": "Conditions (name=value, comma-separated)",
    "rec.conditions_placeholder": "e.g. distance=1 m, light=dim",
    "rec.saving": "Saving…",
    "rec.retrying": "Network lost: sending again (try {n})…",
    "rec.train_button": "Train a word model",
    "rec.command_note": "The same in a terminal (the button above runs it on the server):",
    "rec.training": "Training: epoch {epoch} of at most {epochs} · {s} s",
    "rec.phase_train": "Preparing the training… {s} s",
    "rec.phase_export": "Exporting the model… {s} s",
    "rec.phase_load": "Loading the model into the server… {s} s",
    "rec.train_done": "Model \"{model}\" ready in {s} s: accuracy {accuracy} on {n} test samples it was not trained on. Open the live page: this model is already chosen.",
    "rec.train_failed": "Training failed: {reason}",
    "rec.adapt": "Calibrate to me",
    "rec.adapt_help": "Adapts a served model to your samples in this vocabulary (a few per sign are enough); new signs are added.",
    "rec.adapt_model": "Model",
    "rec.adapt_button": "Calibrate to me",
    "rec.adapting": "Calibrating {model} with the samples of \"{vocabulary}\"…",
    "rec.adapt_done": "Model \"{model}\" ready ({n} samples, {s} s; new signs: {added}). Open the live page: this model is already chosen.",
    "rec.adapt_failed": "Calibration failed: {reason}",
    "error.holistic_missing": "The browser body and hand tracker (@mediapipe/holistic) is not installed on the server: run `make setup` (or `npm install` in the project folder), then restart the server.",
  },
};

export const LANGUAGES = Object.keys(STRINGS);
const STORE = "isyarat.lang";

// The page language: ?lang=en in the address, else the last choice, else Bahasa Indonesia.
function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked in STRINGS) return asked;
  try {
    const saved = localStorage.getItem(STORE);
    if (saved in STRINGS) return saved;
  } catch { /* storage may be off */ }
  return "id";
}

let current = initialLanguage();
const listeners = [];

export function language() {
  return current;
}

// The text of `key` in the page language with {name} replaced by vars.name.
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.id[key] ?? key;
  const shown = (value) => (typeof value === "number" ? value.toLocaleString(current === "id" ? "id-ID" : "en-US") : String(value));
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? shown(vars[name]) : `{${name}}`));
}

export function hasText(key) {
  return key in STRINGS[current];
}

// Fill every data-i18n element of the document, and the document's lang and title.
export function translatePage(titleKey, vars = { hold: HOLD_S, space: SPACE_AFTER_S }) {
  document.documentElement.lang = current;
  if (titleKey) document.title = t(titleKey);
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n, vars); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nLabel)); });
}

// The language buttons into `container`; onChange runs after the page is translated again.
export function languageSwitch(container, titleKey, onChange = () => {}) {
  listeners.push(onChange);
  container.setAttribute("role", "group");
  container.setAttribute("aria-label", t("lang.label"));
  const render = () => {
    container.innerHTML = "";
    for (const code of LANGUAGES) {
      const button = document.createElement("button");
      button.type = "button";
      button.lang = code;
      button.dataset.lang = code;
      button.textContent = STRINGS[code]["lang.name"];
      button.setAttribute("aria-pressed", String(code === current));
      button.onclick = () => setLanguage(code, titleKey, render);
      container.appendChild(button);
    }
    container.setAttribute("aria-label", t("lang.label"));
  };
  render();
  translatePage(titleKey);
}

function setLanguage(code, titleKey, render) {
  current = code;
  try { localStorage.setItem(STORE, code); } catch { /* storage may be off */ }
  translatePage(titleKey);
  render();
  listeners.forEach((listener) => listener());
}
